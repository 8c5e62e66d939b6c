"""Turning a batch of outcomes into the store's rows and back (pure): the audit rows and their
idempotency keys, the notifications they point at (the raw payload, once each), the row types
`write_batch` takes (one named tuple per composite input type, fields in the type's order; a test
holds them to the migrated schema), and the commit summary."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from operator import attrgetter
from typing import Any, NamedTuple, Protocol

from bounced.core.manual import MANUAL
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


class EventInput(NamedTuple):
    """One `bounced_event_input`: an audit row to insert, as `write_batch` takes it. Its fields are
    the `events` columns a batch fills, in table order, then where the row points (a tested match)."""

    kind: str
    action: str
    address: str | None
    reason: str | None
    cause: str | None
    bounce_type: str | None
    bounce_subtype: str | None
    complaint_feedback_type: str | None
    complaint_subtype: str | None
    delay_type: str | None
    dsn_status: str | None
    diagnostic_code: str | None
    feedback_id: str | None
    ses_message_id: str | None
    sns_message_id: str | None
    queue: str | None
    sqs_message_id: str | None
    occurred_at: datetime
    actor: str | None
    note: str | None
    notification_ref: int | None  # 1-based position of its notification in the plan's list
    provisional_id: int  # negative: the id the plan gives the row before it exists


class NotificationInput(NamedTuple):
    """One `bounced_notification_input`: an SES record received, recorded once by its digest."""

    digest: bytes
    source: str
    kind: str
    feedback_id: str | None
    ses_message_id: str | None
    sns_message_id: str | None
    queue: str
    sqs_message_id: str
    sent_at: datetime | None
    occurred_at: datetime
    time_source: str
    claimed_time: str | None
    payload: str | None


class RetryInput(NamedTuple):
    """One `bounced_retry_input`: a pending retry, or the record of an escalation."""

    address: str
    ses_message_id: str | None
    event_id: int
    cause: str
    attempt: int
    due_at: datetime
    state: str


class QuarantineInput(NamedTuple):
    """One `bounced_quarantine_input`: a message kept with its raw bytes."""

    queue: str
    sqs_message_id: str
    body: bytes
    code: str
    detail: str
    receive_count: int


STATE_INPUT_FIELDS = (*(f.name for f in fields(RecipientState)), "created_at", "is_new")
"""The attributes of `bounced_state_input`: a state row's fields, then when a new row was created
and whether it is new."""


def event_records(
    rows: Sequence[EventRow], event_ids: Sequence[int]
) -> tuple[list[EventInput], list[NotificationInput]]:
    """The audit rows with their (provisional) ids and their notifications' positions, and one
    notification per distinct payload among the rows, in digest order (one lock order).

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
        _event_input(row, position[digests[id(row.applied)]], event_id)
        for row, event_id in zip(rows, event_ids, strict=True)
    ]
    return events, [_notification_input(digest, notifications[digest]) for digest in ordered]


def payload_digest(payload: str) -> bytes:
    """The key a notification is recorded once by: SHA-256 of its payload's UTF-8 (a redelivery, or
    a second publish of the same record, carries the same payload)."""
    return hashlib.sha256(payload.encode("utf-8")).digest()


def _notification_input(digest: bytes, applied: Classified) -> NotificationInput:
    n = applied.notification
    return NotificationInput(
        digest=digest,
        source=n.source.value,
        kind=n.kind.value,
        feedback_id=_text(n.feedback_id),
        ses_message_id=_text(n.ses_message_id),
        sns_message_id=_text(n.envelope.message_id) if n.envelope else None,
        queue=applied.queue,
        sqs_message_id=applied.sqs_message_id,
        sent_at=applied.sent_at,
        occurred_at=n.occurred_at,
        time_source=n.time_source.value,
        claimed_time=n.claimed_time,
        payload=n.payload or None,
    )


def _event_input(row: EventRow, notification_ref: int, event_id: int) -> EventInput:
    n, d, r = row.applied.notification, row.decision, row.recipient
    return EventInput(
        kind=n.kind.value,
        action=d.action.value,
        address=d.address,
        reason=d.reason,
        cause=d.cause,
        bounce_type=n.bounce_type,
        bounce_subtype=n.bounce_subtype,
        complaint_feedback_type=n.complaint_feedback_type,
        complaint_subtype=n.complaint_subtype,
        delay_type=n.delay_type,
        dsn_status=r.dsn_status if r else None,
        diagnostic_code=r.diagnostic_code if r else None,
        feedback_id=_text(n.feedback_id),
        ses_message_id=_text(n.ses_message_id),
        sns_message_id=_text(n.envelope.message_id) if n.envelope else None,
        queue=row.applied.queue,
        sqs_message_id=row.applied.sqs_message_id,
        occurred_at=n.occurred_at,
        actor=None,
        note=None,
        notification_ref=notification_ref,
        provisional_id=event_id,
    )


def manual_event(
    state: RecipientState, action: Action, *, actor: str, note: str, now: datetime, kind: str = MANUAL
) -> EventInput:
    """The audit row of a person's change to `state.address` (kind `manual` unless told, who and
    why), with the provisional id -1."""
    return EventInput(
        kind=kind,
        action=action.value,
        address=state.address,
        reason=state.reason,
        cause=None,
        bounce_type=None,
        bounce_subtype=None,
        complaint_feedback_type=None,
        complaint_subtype=None,
        delay_type=None,
        dsn_status=None,
        diagnostic_code=None,
        feedback_id=None,
        ses_message_id=None,
        sns_message_id=None,
        queue=None,
        sqs_message_id=None,
        occurred_at=now,
        actor=actor,
        note=note,
        notification_ref=None,
        provisional_id=-1,
    )


def provisional_ids(count: int) -> list[int]:
    """The ids a batch gives its `count` new audit rows before they exist: negative (real ids are
    positive) and ascending in row order, as the real ones will be; `write_batch` swaps them."""
    return list(range(-count, 0))


def quarantine_records(items: Sequence[Quarantined]) -> list[QuarantineInput]:
    """The quarantine rows, sorted by SQS message id (one lock order)."""
    ordered = sorted(items, key=lambda q: q.sqs_message_id)
    return [
        QuarantineInput(q.queue, q.sqs_message_id, q.body, q.code, q.detail, q.receive_count) for q in ordered
    ]


class Row(Protocol):
    """A row read from the database, by column name (the driver's record type, or a mapping)."""

    def __getitem__(self, key: str, /) -> Any: ...


_STATE_FIELDS = [f.name for f in fields(RecipientState)]
_state_values = attrgetter(*_STATE_FIELDS)


def state_from_record(record: Row) -> RecipientState:
    """A `recipients` row as the state rules see it."""
    values = {name: record[name] for name in _STATE_FIELDS}
    values["status"] = Status(values["status"])
    return RecipientState(**values)


def state_records(rows: Sequence[tuple[RecipientState, bool]], now: datetime) -> list[tuple[Any, ...]]:
    """One `bounced_state_input` (STATE_INPUT_FIELDS) per (state, is new) row, in address order;
    `now` is the created_at of a new row."""
    ordered = sorted(rows, key=lambda row: row[0].address)
    return [(*_state_values(state), now, is_new) for state, is_new in ordered]


def retry_record(address: str, effect: ScheduleRetry | Escalate, due_at: datetime) -> RetryInput:
    """A pending retry (ScheduleRetry) or an escalation record, due at `due_at`."""
    state = "pending" if isinstance(effect, ScheduleRetry) else "escalated"
    return RetryInput(
        address, effect.ses_message_id, effect.event_id, effect.cause, effect.attempt, due_at, state
    )


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
