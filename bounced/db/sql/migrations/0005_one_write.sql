-- bounced schema, version 5: one statement writes everything, a person's override included.

-- `write_batch` is the only writer of audit, state, retry and quarantine rows: on a conflict
-- (`bounced_write_conflict`, SQLSTATE 40001) the store reads, plans and runs it again.

-- Audit rows carry who and why for a person's override (manual events go through `write_batch`).
-- Each input type's attributes are the columns of the table it feeds, in table order, but for
-- those the statement fills itself, then the type's own references (a test holds them to that).
DROP TYPE bounced_event_input;

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
    actor                   text,
    note                    text,
    notification_ref        integer,
    provisional_id          bigint
);

-- Retries and quarantine rows as one value each, like the rest.
CREATE TYPE bounced_retry_input AS (
    address        text,
    ses_message_id text,
    event_id       bigint,
    cause          text,
    attempt        integer,
    due_at         timestamptz,
    state          text
);

CREATE TYPE bounced_quarantine_input AS (
    queue          text,
    sqs_message_id text,
    body           bytea,
    code           text,
    detail         text,
    receive_count  integer
);
