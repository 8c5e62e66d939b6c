-- Every query bounced runs, one named block each: `-- name: NAME`, a one-line description, then
-- the statement with its `$n` parameters. Loaded once by bounced/db/queries.py. Every value is a bound
-- parameter; "now" is always one too (never now() for a decision), so tests move time instead of
-- sleeping.

-- name: ping
-- Is the database there? No parameters.
SELECT 1;

-- name: create_schema_migrations
-- The table recording applied migrations (bootstrap, before any migration runs). No parameters.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL
);

-- name: schema_migrations_exists
-- Whether the migrations table exists yet. No parameters.
SELECT to_regclass('schema_migrations') IS NOT NULL;

-- name: lock_migrations
-- Session advisory lock serialising `bounced migrate` runs. $1 lock key (bigint).
SELECT pg_advisory_lock($1);

-- name: unlock_migrations
-- Release the migration lock. $1 lock key (bigint).
SELECT pg_advisory_unlock($1);

-- name: applied_migrations
-- Versions recorded as applied, ascending. No parameters.
SELECT version FROM schema_migrations ORDER BY version;

-- name: record_migration
-- Record one applied migration. $1 version, $2 name, $3 applied at.
INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3);

-- name: recorded_event_keys
-- Which of a batch's audit rows are recorded already (redeliveries): their idempotency keys.
-- $1 kind[], $2 idem[], $3 address[] ('' for none), as `EventRow.key` computes them.
SELECT e.kind, coalesce(feedback_id, ses_message_id, sns_message_id, sqs_message_id) AS idem,
    coalesce(e.address, '') AS address
FROM unnest($1::text[], $2::text[], $3::text[]) AS k(kind, idem, address)
JOIN events AS e ON e.kind = k.kind
    AND coalesce(e.feedback_id, e.ses_message_id, e.sns_message_id, e.sqs_message_id, 'event:' || e.id::text) = k.idem
    AND coalesce(e.address, '') = k.address;

-- name: read_recipients
-- The state rows of a batch's addresses, each with its row version (xmin), without locking them:
-- `write_batch` refuses to write if any of them changed since. $1 address[].
SELECT *, xmin::text AS row_version FROM recipients WHERE address = ANY($1::text[]);

-- name: write_batch
-- One statement for every write of a batch or an override (a `WritePlan`): record its audit rows
-- and their notifications, cancel and schedule retries, update and insert state rows, keep
-- quarantined messages. It was planned from rows read earlier; when the database no longer
-- matches that read (an audit row already recorded, a state row changed or deleted since it was
-- read, a new row created meanwhile) it raises SQLSTATE 40001 and writes nothing.
-- Event ids a plan gives its own new audit rows before they exist are negative ("provisional");
-- the statement replaces them with the ids the rows get. The audit rows' notifications are recorded
-- once each (a notification already recorded, with the same payload, is pointed at instead); an
-- audit row names its notification by position in $8.
-- $1 bounced_event_input[] (the audit rows, in idempotency-key order), $2 now,
-- $3 addresses whose pending retries are cancelled, $4 bounced_retry_input[] (retries to insert),
-- $5 bounced_state_input[] (state rows, in address order),
-- the read it was planned from: $6 address[], $7 row_version[] of every row read,
-- $8 bounced_notification_input[] (the audit rows' notifications, in digest order),
-- $9 bounced_quarantine_input[] (in SQS message id order),
-- the calls to SES's suppression list the changes ask for (the outbox), in address order:
-- $10 address[], $11 operation[] (put, delete), $12 reason[] (NULL for a delete), $13 event_id[]
-- (provisional or recorded).
-- Returns the audit rows' ids in provisional id order, and [queue, code] of each new quarantine row.
WITH input AS (
    SELECT * FROM unnest($1::bounced_event_input[]) WITH ORDINALITY
), notification_input AS (
    SELECT * FROM unnest($8::bounced_notification_input[]) WITH ORDINALITY
), read_rows AS (
    SELECT * FROM unnest($6::text[], $7::text[]) AS v(address, row_version)
), locked AS (
    -- The state rows read, locked in address order before anything is written (every writer
    -- takes these locks first and in this order: no deadlock), at their latest versions.
    SELECT r.address, r.xmin::text AS row_version FROM recipients AS r
    WHERE r.address = ANY($6::text[]) ORDER BY r.address FOR UPDATE
), unchanged AS (
    SELECT count(*) AS n FROM locked JOIN read_rows AS v ON v.address = locked.address
    WHERE locked.row_version = v.row_version
), new_notifications AS (
    INSERT INTO notifications (
        digest, source, kind, feedback_id, ses_message_id, sns_message_id, queue, sqs_message_id,
        sent_at, occurred_at, time_source, claimed_time, recorded_at, payload
    )
    SELECT digest, source, kind, feedback_id, ses_message_id, sns_message_id, queue, sqs_message_id,
        sent_at, occurred_at, time_source, claimed_time, $2, payload
    FROM notification_input
    WHERE (SELECT count(*) FROM locked) >= 0  -- the row locks first
    ORDER BY ordinality
    ON CONFLICT (digest) DO NOTHING
    RETURNING id, digest
), notification_ids AS (
    -- New rows, or rows recorded before this statement began. One committed while it ran is not
    -- seen here (its id stays NULL): the statement then refuses, and the next attempt sees it.
    SELECT i.ordinality, coalesce(n.id, o.id) AS id
    FROM notification_input AS i
    LEFT JOIN new_notifications AS n ON n.digest = i.digest
    LEFT JOIN notifications AS o ON o.digest = i.digest
), recorded AS (
    INSERT INTO events (
        kind, action, address, reason, cause, bounce_type, bounce_subtype, complaint_feedback_type,
        complaint_subtype, delay_type, dsn_status, diagnostic_code, feedback_id, ses_message_id,
        sns_message_id, queue, sqs_message_id, occurred_at, recorded_at, actor, note, notification_id
    )
    SELECT i.kind, i.action, i.address, i.reason, i.cause, i.bounce_type, i.bounce_subtype,
        i.complaint_feedback_type, i.complaint_subtype, i.delay_type, i.dsn_status,
        i.diagnostic_code, i.feedback_id, i.ses_message_id, i.sns_message_id, i.queue,
        i.sqs_message_id, i.occurred_at, $2, i.actor, i.note, n.id
    FROM input AS i LEFT JOIN notification_ids AS n ON n.ordinality = i.notification_ref
    WHERE (SELECT count(*) FROM locked) >= 0  -- the row locks first
    ORDER BY i.ordinality
    ON CONFLICT DO NOTHING
    RETURNING id, kind, coalesce(address, '') AS address,
        coalesce(feedback_id, ses_message_id, sns_message_id, sqs_message_id, '') AS idem
), event_ids AS (
    -- A manual row has none of the ids (idem ''): an override writes one, for one address.
    SELECT i.provisional_id, r.id
    FROM input AS i JOIN recorded AS r ON r.kind = i.kind AND r.address = coalesce(i.address, '')
        AND r.idem = coalesce(i.feedback_id, i.ses_message_id, i.sns_message_id, i.sqs_message_id, '')
), cancelled AS (
    UPDATE retries SET state = 'cancelled', cancelled_at = $2
    WHERE address = ANY($3::text[]) AND state = 'pending' AND (SELECT count(*) FROM locked) >= 0
    RETURNING id
), scheduled AS (
    INSERT INTO retries (address, ses_message_id, event_id, cause, attempt, due_at, state, created_at)
    SELECT t.address, t.ses_message_id, coalesce(e.id, t.event_id), t.cause, t.attempt, t.due_at,
        t.state, $2
    FROM unnest($4::bounced_retry_input[]) AS t
    LEFT JOIN event_ids AS e ON e.provisional_id = t.event_id
    RETURNING id
), u AS (
    SELECT s.*, coalesce(e.id, s.event_id) AS recorded_event_id, v.row_version
    FROM unnest($5::bounced_state_input[]) WITH ORDINALITY AS s
    LEFT JOIN event_ids AS e ON e.provisional_id = s.event_id
    LEFT JOIN read_rows AS v ON v.address = s.address
), updated AS (
    UPDATE recipients AS r SET
        status = u.status, reason = u.reason, kind = u.kind, bounce_type = u.bounce_type,
        bounce_subtype = u.bounce_subtype, complaint_feedback_type = u.complaint_feedback_type,
        diagnostic_code = u.diagnostic_code, event_id = u.recorded_event_id,
        event_ses_message_id = u.event_ses_message_id, event_feedback_id = u.event_feedback_id,
        event_occurred_at = u.event_occurred_at, soft_bounce_streak = u.soft_bounce_streak,
        retry_at = u.retry_at, escalated = u.escalated,
        escalated_after_attempts = u.escalated_after_attempts, last_bounce_at = u.last_bounce_at,
        last_delivery_at = u.last_delivery_at, since = u.since, updated_at = $2
    FROM u
    WHERE r.address = u.address AND NOT u.is_new AND r.xmin::text = u.row_version
        AND r.address = ANY($6::text[])  -- every row updated was read: the primary key finds it
        AND (SELECT count(*) FROM locked) >= 0
    RETURNING r.address
), inserted AS (
    INSERT INTO recipients (
        address, status, reason, kind, bounce_type, bounce_subtype, complaint_feedback_type,
        diagnostic_code, event_id, event_ses_message_id, event_feedback_id, event_occurred_at,
        soft_bounce_streak, retry_at, escalated, escalated_after_attempts, last_bounce_at,
        last_delivery_at, since, created_at, updated_at
    )
    SELECT address, status, reason, kind, bounce_type, bounce_subtype, complaint_feedback_type,
        diagnostic_code, recorded_event_id, event_ses_message_id, event_feedback_id,
        event_occurred_at, soft_bounce_streak, retry_at, escalated, escalated_after_attempts,
        last_bounce_at, last_delivery_at, since, created_at, $2
    FROM u WHERE u.is_new
    ORDER BY u.ordinality
    ON CONFLICT (address) DO NOTHING
    RETURNING address
), kept AS (
    -- A redelivered poison message is kept once (SQS message ids are unique): no conflict.
    INSERT INTO quarantine (queue, sqs_message_id, body, code, detail, receive_count, received_at)
    SELECT q.queue, q.sqs_message_id, q.body, q.code, q.detail, q.receive_count, $2
    FROM unnest($9::bounced_quarantine_input[]) WITH ORDINALITY AS q
    ORDER BY q.ordinality
    ON CONFLICT DO NOTHING
    RETURNING queue, code
), ses_calls AS (
    -- In the same statement as the state changes: a change is never without its call, nor a call
    -- without its change. The sender makes them in id order, which is this order.
    INSERT INTO ses_suppression_outbox (address, operation, reason, event_id, created_at)
    SELECT c.address, c.operation, c.reason, coalesce(e.id, c.event_id), $2
    FROM unnest($10::text[], $11::text[], $12::text[], $13::bigint[]) WITH ORDINALITY
        AS c(address, operation, reason, event_id, n)
    LEFT JOIN event_ids AS e ON e.provisional_id = c.event_id
    WHERE (SELECT count(*) FROM locked) >= 0  -- the row locks first
    ORDER BY c.n
)
SELECT CASE
        WHEN (SELECT count(*) FROM recorded) <> (SELECT count(*) FROM input)
            OR EXISTS (SELECT 1 FROM notification_ids WHERE id IS NULL)
            OR (SELECT n FROM unchanged) <> cardinality($6::text[])
            OR (SELECT count(*) FROM updated) <> (SELECT count(*) FROM u WHERE NOT u.is_new)
            OR (SELECT count(*) FROM inserted) <> (SELECT count(*) FROM u WHERE u.is_new)
        THEN bounced_write_conflict()
        ELSE true
    END AS written,
    ARRAY(SELECT id FROM event_ids ORDER BY provisional_id) AS event_ids,
    ARRAY(SELECT ARRAY[queue, code] FROM kept) AS quarantined;

-- name: release_due_retries
-- Claim up to $2 pending retries due at $1 (skipping any another scheduler or a committing batch
-- holds, so each is released exactly once and nothing waits), mark them released, make their
-- address active again when that retry is still the one deferring it, and NOTIFY
-- `bounced_retry_released` with one JSON object per retry. $1 now, $2 limit.
WITH due AS (
    SELECT r.id
    FROM retries AS r JOIN recipients AS p ON p.address = r.address
    WHERE r.state = 'pending' AND r.due_at <= $1
    ORDER BY r.due_at, r.id
    LIMIT $2
    FOR UPDATE OF r, p SKIP LOCKED
), released AS (
    UPDATE retries AS r SET state = 'released', released_at = $1
    FROM due WHERE r.id = due.id
    RETURNING r.id, r.address, r.ses_message_id, r.cause, r.attempt, r.due_at, r.released_at
), reactivated AS (
    UPDATE recipients AS p SET status = 'active', retry_at = NULL, since = $1, updated_at = $1
    FROM released
    WHERE p.address = released.address AND p.status = 'deferred' AND p.retry_at = released.due_at
    RETURNING p.address
)
SELECT released.*, released.address IN (SELECT address FROM reactivated) AS reactivated,
    pg_notify('bounced_retry_released', json_build_object(
        'id', released.id, 'address', released.address, 'ses_message_id', released.ses_message_id,
        'cause', released.cause, 'attempt', released.attempt, 'due_at', released.due_at
    )::text) IS NULL AS notified
FROM released
ORDER BY released.due_at, released.id;

-- name: unannounced_releases
-- Released retries whose outbound message is not yet sent, oldest first. $1 released at or before
-- (NULL: any; a sweeper leaves alone those another instance is sending right now), $2 limit.
SELECT id, address, ses_message_id, cause, attempt, due_at, released_at, false AS reactivated
FROM retries
WHERE state = 'released' AND announced_at IS NULL
    AND ($1::timestamptz IS NULL OR released_at <= $1)
ORDER BY id
LIMIT $2;

-- name: mark_announced
-- Record that released retries were announced. $1 id[], $2 now.
UPDATE retries SET announced_at = $2 WHERE id = ANY($1::bigint[]) AND announced_at IS NULL;

-- name: recipient
-- One address's state row. $1 address.
SELECT * FROM recipients WHERE address = $1;

-- name: recipient_events
-- One address's events, newest first, with where each one's time came from. $1 address, $2 limit.
SELECT e.id, e.kind, e.action, e.reason, e.cause, e.bounce_type, e.bounce_subtype,
    e.complaint_feedback_type, e.delay_type, e.feedback_id, e.ses_message_id, e.queue,
    e.sqs_message_id, e.occurred_at, e.recorded_at, e.actor, e.note, e.notification_id,
    n.time_source, n.claimed_time, n.payload IS NOT NULL AS payload_kept
FROM events AS e LEFT JOIN notifications AS n ON n.id = e.notification_id
WHERE e.address = $1
ORDER BY e.occurred_at DESC, e.id DESC
LIMIT $2;

-- name: quarantine_list
-- Quarantined messages not discarded, oldest first, without their bodies. $1 limit.
SELECT id, queue, sqs_message_id, code, detail, receive_count, received_at, replayed_at
FROM quarantine
WHERE discarded_at IS NULL
ORDER BY id
LIMIT $1;

-- name: pending_retries
-- Pending retries due at or before $1 (all when NULL), soonest first. $1 due before, $2 limit.
SELECT id, address, ses_message_id, cause, attempt, due_at, created_at
FROM retries
WHERE state = 'pending' AND ($1::timestamptz IS NULL OR due_at <= $1)
ORDER BY due_at, id
LIMIT $2;

-- name: recipient_counts
-- Addresses per status. No parameters.
SELECT status, count(*) AS n FROM recipients GROUP BY status;

-- name: pending_retry_count
-- How many retries are pending. No parameters.
SELECT count(*) FROM retries WHERE state = 'pending';

-- ---- send-gate, admin commands and retention --------------------------------------------------

-- name: sendgate_answers
-- What the send-gate says about addresses: their status, reason and retry time. $1 address[].
SELECT address, status, reason, retry_at FROM recipients WHERE address = ANY($1::text[]);

-- name: recipients_page
-- One status's addresses in address order, after $2 (NULL: from the start). $1 status, $2 after,
-- $3 limit.
SELECT address, status, reason, kind, bounce_type, bounce_subtype, complaint_feedback_type,
    diagnostic_code, soft_bounce_streak, retry_at, escalated, escalated_after_attempts, since,
    updated_at
FROM recipients
WHERE status = $1 AND ($2::text IS NULL OR address > $2)
ORDER BY address
LIMIT $3;

-- name: quarantine_get
-- One quarantined message with its raw bytes. $1 id.
SELECT id, queue, sqs_message_id, body, code, detail, receive_count, received_at, replayed_at,
    discarded_at
FROM quarantine
WHERE id = $1;

-- name: quarantine_replayable
-- Ids of quarantined messages neither replayed nor discarded, oldest first. $1 limit.
SELECT id FROM quarantine WHERE replayed_at IS NULL AND discarded_at IS NULL ORDER BY id LIMIT $1;

-- name: quarantine_mark_replayed
-- A quarantined message went through on replay. $1 id, $2 now.
UPDATE quarantine SET replayed_at = $2 WHERE id = $1;

-- name: quarantine_set_reason
-- A quarantined message failed again on replay: keep it, with the new reason. $1 id, $2 code,
-- $3 detail.
UPDATE quarantine SET code = $2, detail = $3 WHERE id = $1;

-- name: quarantine_discard
-- Set a quarantined message aside for good (the row stays until retention); returns its id when
-- it was not discarded before. $1 id, $2 now.
UPDATE quarantine SET discarded_at = $2 WHERE id = $1 AND discarded_at IS NULL RETURNING id;

-- name: prune_payloads
-- Forget the raw JSON of up to $2 notifications recorded before $1, oldest first, skipping rows a
-- batch is writing. Every other field of the row stays, as do the audit rows and the recipients
-- rows: the reason an address is suppressed survives. Returns how many were pruned.
-- $1 before, $2 limit.
WITH batch AS (
    SELECT id FROM notifications
    WHERE payload IS NOT NULL AND recorded_at < $1
    ORDER BY recorded_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), pruned AS (
    UPDATE notifications AS n SET payload = NULL FROM batch WHERE n.id = batch.id RETURNING 1
)
SELECT count(*) FROM pruned;

-- name: prune_quarantine
-- Delete up to $2 quarantined messages (raw bytes and all) received before $1, oldest first.
-- Returns how many. $1 before, $2 limit.
WITH batch AS (
    SELECT id FROM quarantine WHERE received_at < $1 ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED
), deleted AS (
    DELETE FROM quarantine AS q USING batch WHERE q.id = batch.id RETURNING 1
)
SELECT count(*) FROM deleted;

-- name: prunable
-- What a prune at $1 would remove: notification payloads and quarantined messages older than it.
SELECT
    (SELECT count(*) FROM notifications WHERE payload IS NOT NULL AND recorded_at < $1) AS payloads,
    (SELECT count(*) FROM quarantine WHERE received_at < $1) AS quarantined;

-- == SES's suppression list: the outbox =========================================================

-- name: lock_ses_sender
-- Become the one sender of the outbox for this transaction, or false when another instance is.
-- $1 lock key (bigint).
SELECT pg_try_advisory_xact_lock($1);

-- name: ses_calls_head
-- The oldest calls still to make, in the order they must be made. $1 limit.
SELECT id, address, operation, reason, event_id FROM ses_suppression_outbox ORDER BY id LIMIT $1;

-- name: ses_calls_done
-- Forget calls SES has answered (or refused for good). $1 id[].
DELETE FROM ses_suppression_outbox WHERE id = ANY($1::bigint[]);

-- name: ses_calls_pending
-- How many calls wait in the outbox. No parameters.
SELECT count(*) FROM ses_suppression_outbox;
