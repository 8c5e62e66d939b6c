"""The rows the store sends: the right values under each name (the names and their order are held
to the schema by tests/integration/test_row_types.py)."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta

from bounced.core.batch import (
    STATE_INPUT_FIELDS,
    event_records,
    event_rows,
    payload_digest,
    provisional_ids,
    state_records,
)
from bounced.core.model import Status, TimeSource
from bounced.core.state import RecipientState
from tests.support.outcomes import hard_bounce, soft_bounce

NOW = datetime(2026, 3, 1, 9, tzinfo=UTC)


def test_state_records_follow_bounced_state_input() -> None:
    state = RecipientState(
        address="a@example.com",
        status=Status.DEFERRED,
        reason="mailbox-full",
        kind="bounce",
        bounce_type="Transient",
        bounce_subtype="MailboxFull",
        diagnostic_code="452 4.2.2 full",
        event_id=-3,
        event_ses_message_id="ses-1",
        event_occurred_at=NOW,
        soft_bounce_streak=2,
        retry_at=NOW + timedelta(hours=4),
        last_bounce_at=NOW,
        since=NOW,
    )
    (record,) = state_records([(state, True)], NOW + timedelta(minutes=1))
    named = dict(zip(STATE_INPUT_FIELDS, record, strict=True))
    for field in fields(RecipientState):
        expected = getattr(state, field.name)
        assert named[field.name] == (expected.value if field.name == "status" else expected), field.name
    assert named["created_at"] == NOW + timedelta(minutes=1)
    assert named["is_new"] is True


def test_event_records_follow_bounced_event_input() -> None:
    rows = event_rows([soft_bounce(["b@example.com"], NOW)])
    (record,), _ = event_records(rows, [-1])
    named = record._asdict()
    notification = rows[0].applied.notification
    assert named["kind"] == "bounce"
    assert named["action"] == rows[0].decision.action.value
    assert named["address"] == "b@example.com"
    assert named["bounce_type"] == "Transient"
    assert named["ses_message_id"] == notification.ses_message_id
    assert named["sqs_message_id"] == rows[0].applied.sqs_message_id
    assert named["occurred_at"] == NOW
    assert named["notification_ref"] == 1
    assert named["provisional_id"] == -1


def test_notification_records_follow_bounced_notification_input() -> None:
    outcome = soft_bounce(["b@example.com"], NOW)
    _, (record,) = event_records(event_rows([outcome]), [-1])
    named = record._asdict()
    notification = outcome.notification
    assert named["digest"] == payload_digest(notification.payload)
    assert (named["source"], named["kind"]) == ("raw", "bounce")
    assert named["feedback_id"] == notification.feedback_id
    assert (named["queue"], named["sqs_message_id"]) == ("bounce", outcome.sqs_message_id)
    assert (named["sent_at"], named["occurred_at"]) == (outcome.sent_at, NOW)
    assert (named["time_source"], named["claimed_time"]) == (TimeSource.FEEDBACK.value, None)
    assert named["payload"] == notification.payload


def test_a_notification_of_many_recipients_sends_its_payload_once() -> None:
    wide = hard_bounce([f"r{i}@example.com" for i in range(50)], NOW)
    other = soft_bounce(["b@example.com"], NOW)
    rows = event_rows([wide, other])
    events, notifications = event_records(rows, provisional_ids(len(rows)))
    assert len(notifications) == 2
    assert [n.digest for n in notifications] == sorted(n.digest for n in notifications)  # digest order
    by_ref = dict(enumerate(notifications, start=1))
    for row, record in zip(rows, events, strict=True):
        assert record.notification_ref is not None
        assert by_ref[record.notification_ref].digest == payload_digest(row.applied.notification.payload)
    payloads = {wide.notification.payload, other.notification.payload}
    assert not any(value in payloads for record in events for value in record)


def test_provisional_ids_are_negative_ascending_and_distinct() -> None:
    ids = provisional_ids(4)
    assert ids == sorted(set(ids))
    assert all(i < 0 for i in ids)
    assert provisional_ids(0) == []
