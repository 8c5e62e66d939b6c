-- bounced schema, version 4: the raw payload once per notification, and where its time came from.

-- One row per SES record received (an SNS Message, an EventBridge event's detail, or a raw body).
-- `digest` (SHA-256 of the payload's UTF-8) is the idempotency key: a redelivered message or a
-- second publish of the same record carries the same payload, so it adds no row; two records that
-- share an SES message id (SES sends a delivery per recipient domain, a delay per attempt) do not.
CREATE TABLE notifications (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    digest         bytea NOT NULL,
    source         text NOT NULL CHECK (source IN ('sns', 'eventbridge', 'raw')),
    kind           text NOT NULL,
    feedback_id    text,
    ses_message_id text,
    sns_message_id text,
    -- The SQS message it first arrived in, and SQS's SentTimestamp of it.
    queue          text,
    sqs_message_id text,
    sent_at        timestamptz,
    -- The time its events are ordered by, which of its times that is, and the time it claimed when
    -- that was not trusted (later than five minutes past sent_at, or unreadable), verbatim.
    -- time_source is NULL for rows moved here from `events` by this migration (not recorded then).
    occurred_at    timestamptz NOT NULL,
    time_source    text CHECK (time_source IN ('feedback', 'mail', 'envelope', 'sqs', 'received', 'unknown')),
    claimed_time   text,
    recorded_at    timestamptz NOT NULL,
    -- The SES JSON as received; NULL once retention has pruned it (the row itself stays).
    payload        text
);

CREATE UNIQUE INDEX notifications_digest ON notifications (digest);

-- Retention: find rows whose payload is still kept, oldest first.
CREATE INDEX notifications_payload_by_age ON notifications (recorded_at) WHERE payload IS NOT NULL;

-- Each audit row points at its notification (NULL for manual actions, and for rows whose payload
-- retention had pruned before this migration). No foreign key: a key check per audit row is a cost
-- on every batch, and nothing deletes notifications.
ALTER TABLE events ADD COLUMN notification_id bigint;

-- Move the payloads kept so far: one notification per distinct payload.
INSERT INTO notifications (
    digest, source, kind, feedback_id, ses_message_id, sns_message_id, queue, sqs_message_id,
    occurred_at, recorded_at, payload
)
SELECT DISTINCT ON (digest) digest,
    CASE WHEN sns_message_id IS NULL THEN 'raw' ELSE 'sns' END,
    kind, feedback_id, ses_message_id, sns_message_id, queue, sqs_message_id, occurred_at,
    recorded_at, payload
FROM (SELECT sha256(convert_to(payload, 'UTF8')) AS digest, * FROM events WHERE payload IS NOT NULL) AS e
ORDER BY digest, id;

UPDATE events AS e SET notification_id = n.id
FROM notifications AS n
WHERE e.payload IS NOT NULL AND n.digest = sha256(convert_to(e.payload, 'UTF8'));

DROP INDEX events_payload_by_age;
ALTER TABLE events DROP COLUMN payload;

-- `write_batch` takes the notifications as one array too; an audit row names its notification by
-- its 1-based position in that array.
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
    notification_ref        integer,
    provisional_id          bigint
);

CREATE TYPE bounced_notification_input AS (
    digest         bytea,
    source         text,
    kind           text,
    feedback_id    text,
    ses_message_id text,
    sns_message_id text,
    queue          text,
    sqs_message_id text,
    sent_at        timestamptz,
    occurred_at    timestamptz,
    time_source    text,
    claimed_time   text,
    payload        text
);
