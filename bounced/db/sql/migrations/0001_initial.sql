-- bounced schema, version 1: the audit log, one state row per address, durable retries, quarantine.
-- Decisions never read now(): every time a rule compares comes from the application's clock.

-- Every notification per recipient (one row with address NULL for a notification that names no
-- recipient). The unique index below is the idempotency key: a redelivered or duplicated
-- notification inserts nothing. Manual actions (issue 8) are rows too, with actor and note.
CREATE TABLE events (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind                    text NOT NULL,
    action                  text NOT NULL,
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
    occurred_at             timestamptz NOT NULL,
    recorded_at             timestamptz NOT NULL,
    -- The SES JSON as received; NULL once retention has pruned it (the row itself stays).
    payload                 text,
    actor                   text,
    note                    text
);

-- (kind, feedbackId or else SES message id, recipient). The SNS and SQS ids and finally the row id
-- stand in for notifications that carry no SES id at all (SNS confirmations, manual actions), so
-- those never collide with one another.
CREATE UNIQUE INDEX events_idempotency ON events (
    kind,
    (coalesce(feedback_id, ses_message_id, sns_message_id, sqs_message_id, 'event:' || id::text)),
    (coalesce(address, ''))
);

-- `bounced status`: an address's events newest first.
CREATE INDEX events_by_address ON events (address, occurred_at DESC, id DESC) WHERE address IS NOT NULL;

-- Retention: find rows whose payload is still kept, oldest first.
CREATE INDEX events_payload_by_age ON events (recorded_at) WHERE payload IS NOT NULL;

-- One row per address. Why an address is in its status is copied here from the event that set it,
-- so pruning the audit log never loses the reason an address is suppressed.
CREATE TABLE recipients (
    address                  text PRIMARY KEY,
    status                   text NOT NULL DEFAULT 'active'
                             CHECK (status IN ('active', 'deferred', 'suppressed', 'review')),
    reason                   text,
    kind                     text,
    bounce_type              text,
    bounce_subtype           text,
    complaint_feedback_type  text,
    diagnostic_code          text,
    -- The event that set the current state (no foreign key: retention may delete events).
    event_id                 bigint,
    event_ses_message_id     text,
    event_feedback_id        text,
    event_occurred_at        timestamptz,
    soft_bounce_streak       integer NOT NULL DEFAULT 0 CHECK (soft_bounce_streak >= 0),
    -- When the pending retry comes due (NULL unless deferred). An address has a pending retry
    -- exactly while it is deferred: every change away from deferred cancels it, and a new retry
    -- replaces it; so the release of the retry due at retry_at is the one that ends the deferral.
    retry_at                 timestamptz,
    escalated                boolean NOT NULL DEFAULT false,
    escalated_after_attempts integer,
    last_bounce_at           timestamptz,
    last_delivery_at         timestamptz,
    -- When the address entered its current status, by bounced's clock.
    since                    timestamptz NOT NULL,
    created_at               timestamptz NOT NULL,
    updated_at               timestamptz NOT NULL,
    CHECK ((status = 'deferred') = (retry_at IS NOT NULL))
);

CREATE INDEX recipients_by_status ON recipients (status);

-- Scheduled retries after a transient failure. `pending` rows come due; the scheduler moves them
-- to `released` (announced_at set once the outbound message is sent: an outbox); a suppression or
-- a newer delivery moves them to `cancelled`; `escalated` records the attempt that found the
-- windows used up.
CREATE TABLE retries (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    address        text NOT NULL,
    ses_message_id text,
    event_id       bigint,
    cause          text NOT NULL,
    attempt        integer NOT NULL CHECK (attempt >= 1),
    due_at         timestamptz NOT NULL,
    state          text NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'released', 'cancelled', 'escalated')),
    created_at     timestamptz NOT NULL,
    released_at    timestamptz,
    cancelled_at   timestamptz,
    announced_at   timestamptz
);

CREATE INDEX retries_due ON retries (due_at, id) WHERE state = 'pending';
CREATE INDEX retries_pending_by_address ON retries (address) WHERE state = 'pending';
CREATE INDEX retries_unannounced ON retries (id) WHERE state = 'released' AND announced_at IS NULL;
CREATE INDEX retries_by_address ON retries (address, created_at DESC);

-- Messages that could not be read or trusted, with their raw bytes. A redelivered poison message is
-- kept once (SQS message ids are unique).
CREATE TABLE quarantine (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue          text NOT NULL,
    sqs_message_id text NOT NULL UNIQUE,
    body           bytea NOT NULL,
    code           text NOT NULL,
    detail         text NOT NULL,
    receive_count  integer NOT NULL DEFAULT 1,
    received_at    timestamptz NOT NULL,
    replayed_at    timestamptz,
    discarded_at   timestamptz
);
