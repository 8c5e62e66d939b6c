"""Turning a batch of outcomes into the store's rows and back (pure): the audit rows and their
idempotency keys, the notifications they point at (the raw payload, once each), the column arrays
the `unnest` statements take, and the commit summary."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from bounced.core.model import Action, Classified, Decision, Quarantined, Recipient, Status
from bounced.core.state import Escalate, Event, RecipientState, ScheduleRetry

NO_RECIPIENTS = Decision(Action.IGNORE, None, "no-recipients")
"""The decision recorded for a notification that names no recipient."""


def _text(value: str | None) -> str | None:
    """Empty strings stored as NULL, so SQL's coalesce and Python's `or` agree on the key."""
    return value or None


@dataclass(frozen=True, slots=True)
class EventRow:
    """One audit row to insert: a decision of an applied outcome, with its recipient's DSN fields."""

    applied: Classified
    decision: Decision
    recipient: Recipient | None
    key: tuple[str, str, str] = ("", "", "")  # set by `of`: computed once, used for sort and match

    @classmethod
    def of(cls, applied: Classified, decision: Decision, recipient: Recipient | None) -> EventRow:
        """A row with its idempotency key computed."""
        row = cls(applied, decision, recipient)
        return cls(
            applied, decision, recipient, (applied.notification.kind.value, row.idem, decision.address or "")
        )

    @property
    def idem(self) -> str:
        """The id part of the idempotency key, as the unique index computes it."""
        n = self.applied.notification
        sns_id = n.envelope.message_id if n.envelope else None
        return _text(n.feedback_id) or _text(n.ses_message_id) or _text(sns_id) or self.applied.sqs_message_id

    def event(self, event_id: int) -> Event:
        """The state rules' view of this row once recorded as `event_id`."""
        diagnostic = self.recipient.diagnostic_code if self.recipient else None
        return Event(event_id, self.decision, self.applied.notification, diagnostic)


def event_rows(applied: Iterable[Classified]) -> list[EventRow]:
    """The audit rows of a batch, sorted by idempotency key so concurrent batches inserting the same
    keys wait on one another in one order (no deadlock)."""
    rows: list[EventRow] = []
    for outcome in applied:
        by_address = {r.address: r for r in outcome.notification.recipients}
        decisions = outcome.decisions or (NO_RECIPIENTS,)
        rows.extend(EventRow.of(outcome, d, by_address.get(d.address or "")) for d in decisions)
    rows.sort(key=lambda row: row.key)
    return rows


def event_records(rows: Sequence[EventRow], event_ids: Sequence[int]) -> tuple[list[Any], list[Any]]:
    """`write_batch`'s $1 and $14: one `bounced_event_input` per row, with the row's (provisional)
    id and its notification's position in the other list; and one `bounced_notification_input` per
    distinct payload among the rows' notifications, in digest order (one lock order).

    Every row of one notification shares that notification's record: the payload travels once."""
    digests: dict[int, bytes] = {}
    notifications: dict[bytes, Classified] = {}
    for row in rows:
        key = id(row.applied)
        if key not in digests:
            digests[key] = digest = payload_digest(row.applied.notification.payload)
            notifications.setdefault(digest, row.applied)
    ordered = sorted(notifications)
    position = {digest: index for index, digest in enumerate(ordered, start=1)}
    events = [
        (*_event_values(row), position[digests[id(row.applied)]], event_id)
        for row, event_id in zip(rows, event_ids, strict=True)
    ]
    return events, [_notification_values(digest, notifications[digest]) for digest in ordered]


def payload_digest(payload: str) -> bytes:
    """The key a notification is recorded once by: SHA-256 of its payload's UTF-8 (a redelivery, or
    a second publish of the same record, carries the same payload)."""
    return hashlib.sha256(payload.encode("utf-8")).digest()


def _notification_values(digest: bytes, applied: Classified) -> tuple[Any, ...]:
    n = applied.notification
    return (
        digest,
        n.source.value,
        n.kind.value,
        _text(n.feedback_id),
        _text(n.ses_message_id),
        _text(n.envelope.message_id) if n.envelope else None,
        applied.queue,
        applied.sqs_message_id,
        applied.sent_at,
        n.occurred_at,
        n.time_source.value,
        n.claimed_time,
        n.payload or None,
    )


def event_values(rows: Sequence[EventRow]) -> list[tuple[Any, ...]]:
    """The `events` columns each row fills, kind to occurred_at (as `bounced_event_input` orders them)."""
    return [_event_values(row) for row in rows]


def _event_values(row: EventRow) -> tuple[Any, ...]:
    n, d, r = row.applied.notification, row.decision, row.recipient
    return (
        n.kind.value,
        d.action.value,
        d.address,
        d.reason,
        d.cause,
        n.bounce_type,
        n.bounce_subtype,
        n.complaint_feedback_type,
        n.complaint_subtype,
        n.delay_type,
        r.dsn_status if r else None,
        r.diagnostic_code if r else None,
        _text(n.feedback_id),
        _text(n.ses_message_id),
        _text(n.envelope.message_id) if n.envelope else None,
        row.applied.queue,
        row.applied.sqs_message_id,
        n.occurred_at,
    )


def provisional_ids(count: int) -> list[int]:
    """The ids a batch gives its `count` new audit rows before they exist: negative (real ids are
    positive) and ascending in row order, as the real ones will be; `write_batch` swaps them."""
    return list(range(-count, 0))


def quarantine_columns(items: Sequence[Quarantined]) -> list[list[Any]]:
    """The arrays $1..$6 of `insert_quarantine`, sorted by SQS message id (one lock order)."""
    ordered = sorted(items, key=lambda q: q.sqs_message_id)
    return [
        [q.queue for q in ordered],
        [q.sqs_message_id for q in ordered],
        [q.body for q in ordered],
        [q.code for q in ordered],
        [q.detail for q in ordered],
        [q.receive_count for q in ordered],
    ]


_STATE_FIELDS = [f.name for f in fields(RecipientState)]


def state_from_record(record: Mapping[str, Any]) -> RecipientState:
    """A `recipients` row as the state rules see it."""
    values = {name: record[name] for name in _STATE_FIELDS}
    values["status"] = Status(values["status"])
    return RecipientState(**values)


def state_records(rows: Sequence[tuple[RecipientState, bool]], now: datetime) -> list[tuple[Any, ...]]:
    """`write_batch`'s $11: one `bounced_state_input` per (state, is new) row, in address order;
    `now` is the created_at of a new row."""
    ordered = sorted(rows, key=lambda row: row[0].address)
    return [(*_state_values(state), now, is_new) for state, is_new in ordered]


def _state_values(state: RecipientState) -> tuple[Any, ...]:
    return (
        state.address,
        state.status.value,
        state.reason,
        state.kind,
        state.bounce_type,
        state.bounce_subtype,
        state.complaint_feedback_type,
        state.diagnostic_code,
        state.event_id,
        state.event_ses_message_id,
        state.event_feedback_id,
        state.event_occurred_at,
        state.soft_bounce_streak,
        state.retry_at,
        state.escalated,
        state.escalated_after_attempts,
        state.last_bounce_at,
        state.last_delivery_at,
        state.since,
    )


@dataclass(frozen=True, slots=True)
class RetryRow:
    """A row for `insert_retries`: a pending retry or an escalation record."""

    address: str
    effect: ScheduleRetry | Escalate
    due_at: datetime

    @property
    def state(self) -> str:
        return "pending" if isinstance(self.effect, ScheduleRetry) else "escalated"


def retry_columns(rows: Sequence[RetryRow]) -> list[list[Any]]:
    """The arrays $4..$10 of `write_batch`."""
    return [
        [r.address for r in rows],
        [r.effect.ses_message_id for r in rows],
        [r.effect.event_id for r in rows],
        [r.effect.cause for r in rows],
        [r.effect.attempt for r in rows],
        [r.due_at for r in rows],
        [r.state for r in rows],
    ]


@dataclass(frozen=True, slots=True)
class CommitSummary:
    """What one commit changed, counting only what was new: a redelivered message counts nothing.

    Metrics come from here.
    """

    events: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (kind, action) -> new events
    duplicates: int = 0  # audit rows already recorded (redeliveries, SNS double publishes)
    retries_scheduled: Mapping[str, int] = field(default_factory=dict)  # cause -> retries scheduled
    escalations: Mapping[str, int] = field(default_factory=dict)  # cause -> addresses escalated
    # new status -> addresses moved to it (a new address counts as entering its first status)
    status_changes: Mapping[str, int] = field(default_factory=dict)
    quarantined: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (queue, code) -> new rows
    # SQS SentTimestamp and SES occurred_at of each applied message with at least one new event
    # (the notification lag: now - sent_at, now - occurred_at).
    sent_at: tuple[datetime, ...] = ()
    occurred_at: tuple[datetime, ...] = ()

    @property
    def new_events(self) -> int:
        """How many audit rows this commit added."""
        return sum(self.events.values())

    def merge(self, other: CommitSummary) -> CommitSummary:
        """The summary of two commits taken together."""
        return CommitSummary(
            events=dict(Counter(self.events) + Counter(other.events)),
            duplicates=self.duplicates + other.duplicates,
            retries_scheduled=dict(Counter(self.retries_scheduled) + Counter(other.retries_scheduled)),
            escalations=dict(Counter(self.escalations) + Counter(other.escalations)),
            status_changes=dict(Counter(self.status_changes) + Counter(other.status_changes)),
            quarantined=dict(Counter(self.quarantined) + Counter(other.quarantined)),
            sent_at=self.sent_at + other.sent_at,
            occurred_at=self.occurred_at + other.occurred_at,
        )


@dataclass
class SummaryBuilder:
    """Accumulates a CommitSummary while a commit runs."""

    events: Counter[tuple[str, str]] = field(default_factory=Counter)
    duplicates: int = 0
    retries_scheduled: Counter[str] = field(default_factory=Counter)
    escalations: Counter[str] = field(default_factory=Counter)
    status_changes: Counter[str] = field(default_factory=Counter)
    quarantined: Counter[tuple[str, str]] = field(default_factory=Counter)
    fresh_messages: dict[int, Classified] = field(default_factory=dict)

    def fresh_row(self, row: EventRow) -> None:
        self.events[(row.applied.notification.kind.value, row.decision.action.value)] += 1
        self.fresh_messages[id(row.applied)] = row.applied

    def build(self) -> CommitSummary:
        messages = list(self.fresh_messages.values())
        return CommitSummary(
            events=dict(self.events),
            duplicates=self.duplicates,
            retries_scheduled=dict(self.retries_scheduled),
            escalations=dict(self.escalations),
            status_changes=dict(self.status_changes),
            quarantined=dict(self.quarantined),
            sent_at=tuple(m.sent_at for m in messages if m.sent_at is not None),
            occurred_at=tuple(m.notification.occurred_at for m in messages),
        )
