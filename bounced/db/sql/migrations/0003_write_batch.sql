-- bounced schema, version 3: one statement writes a batch, and refuses to write on a stale read.

-- `write_batch` calls this when what it was given no longer matches the database (an audit row
-- already recorded, a state row changed or created since it was read). Raising aborts the whole
-- statement, so nothing of the batch is written; the store then runs it again under row locks.
-- SQLSTATE 40001 (serialization_failure) is what such a conflict is.
CREATE FUNCTION bounced_write_conflict() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION 'bounced: the batch conflicts with a concurrent write'
        USING ERRCODE = 'serialization_failure';
END
$$;

-- What `write_batch` takes: one value per audit row and one per state row. An array of these binds
-- as one parameter, which costs the client far less to send than an array per column.
CREATE TYPE bounced_event_input AS (
    kind                    text,
    action                  text,
    address                 text,
    reason                  text,
    cause                   text,
    bounce_type             text,
    bounce_subtype          text,
    complaint_feedback_type text,
    complaint_subtype       text,
    delay_type              text,
    dsn_status              text,
    diagnostic_code         text,
    feedback_id             text,
    ses_message_id          text,
    sns_message_id          text,
    queue                   text,
    sqs_message_id          text,
    occurred_at             timestamptz,
    payload                 text,
    provisional_id          bigint
);

CREATE TYPE bounced_state_input AS (
    address                  text,
    status                   text,
    reason                   text,
    kind                     text,
    bounce_type              text,
    bounce_subtype           text,
    complaint_feedback_type  text,
    diagnostic_code          text,
    event_id                 bigint,
    event_ses_message_id     text,
    event_feedback_id        text,
    event_occurred_at        timestamptz,
    soft_bounce_streak       integer,
    retry_at                 timestamptz,
    escalated                boolean,
    escalated_after_attempts integer,
    last_bounce_at           timestamptz,
    last_delivery_at         timestamptz,
    since                    timestamptz,
    created_at               timestamptz,
    is_new                   boolean
);
