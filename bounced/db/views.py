"""What the store's read side returns: plain frozen values built from rows."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import TypeVar

from bounced.core.batch import Row
from bounced.core.state import RecipientState

T = TypeVar("T")


def from_record(cls: type[T], record: Row) -> T:
    """An instance of the dataclass `cls` from the row's columns of the same names."""
    return cls(**{f.name: record[f.name] for f in fields(cls)})  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class EventView:
    """One audit row, with what its notification says of its time (not the payload)."""

    id: int
    kind: str
    action: str
    reason: str | None
    cause: str | None
    bounce_type: str | None
    bounce_subtype: str | None
    complaint_feedback_type: str | None
    delay_type: str | None
    feedback_id: str | None
    ses_message_id: str | None
    queue: str | None
    sqs_message_id: str | None
    occurred_at: datetime
    recorded_at: datetime
    actor: str | None
    note: str | None
    notification_id: int | None  # None for a manual action
    time_source: str | None  # which of the notification's times occurred_at is (bounced.core.timing)
    claimed_time: str | None  # the time it claimed, when that one was not trusted
    payload_kept: bool  # False once retention has pruned the notification's payload


@dataclass(frozen=True, slots=True)
class RecipientView:
    """An address's state row and its events, newest first (for `bounced status`)."""

    state: RecipientState
    created_at: datetime
    updated_at: datetime
    events: tuple[EventView, ...]


@dataclass(frozen=True, slots=True)
class QuarantineView:
    """A quarantined message, without its body."""

    id: int
    queue: str
    sqs_message_id: str
    code: str
    detail: str
    receive_count: int
    received_at: datetime
    replayed_at: datetime | None


@dataclass(frozen=True, slots=True)
class RetryView:
    """A pending retry."""

    id: int
    address: str
    ses_message_id: str | None
    cause: str
    attempt: int
    due_at: datetime
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ReleasedRetry:
    """A retry the scheduler released: what the outbound announcement carries."""

    id: int
    address: str
    ses_message_id: str | None
    cause: str
    attempt: int
    due_at: datetime
    released_at: datetime
    reactivated: bool  # the address went back to active (False when something newer had changed it)


@dataclass(frozen=True, slots=True)
class RecipientRow:
    """An address's state row as `bounced list` and `bounced export` show it."""

    address: str
    status: str
    reason: str | None
    kind: str | None
    bounce_type: str | None
    bounce_subtype: str | None
    complaint_feedback_type: str | None
    diagnostic_code: str | None
    soft_bounce_streak: int
    retry_at: datetime | None
    escalated: bool
    escalated_after_attempts: int | None
    since: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class QuarantinedMessage:
    """A quarantined message with its raw bytes (`bounced quarantine show` and replay)."""

    id: int
    queue: str
    sqs_message_id: str
    body: bytes
    code: str
    detail: str
    receive_count: int
    received_at: datetime
    replayed_at: datetime | None
    discarded_at: datetime | None


@dataclass(frozen=True, slots=True)
class Prunable:
    """What retention removes (or, in a dry run, would remove)."""

    payloads: int
    quarantined: int
