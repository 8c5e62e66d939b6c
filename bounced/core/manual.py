"""A person's override of an address's state (pure): `bounced suppress`, `unsuppress`, `review resolve`.

A manual change is recorded in the audit log as a `manual` event with who and why; the address's
state row then points at that event, with `kind` and `reason` "manual". Its `event_occurred_at` is
the moment of the override, so feedback older than it (a bounce still in a queue) stays stale and
cannot undo what the person decided; newer feedback applies as usual.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from bounced.core.model import Status
from bounced.core.state import CAUSE_FIELDS, RecipientState

MANUAL = "manual"  # the `kind` of manual events and the `reason` of the states they set


def suppressed(current: RecipientState | None, *, address: str, now: datetime) -> RecipientState | None:
    """The state after a manual suppression, or None when the address is already suppressed (the
    first reason is kept). An unknown address gets a new row: people ask by other channels too."""
    if current is not None and current.status is Status.SUPPRESSED:
        return None
    base = current or RecipientState(address=address, since=now)
    return _manual(base, Status.SUPPRESSED, now)


def activated(current: RecipientState | None, *, now: datetime) -> RecipientState | None:
    """The state after a person lifts a suppression, deferral or review: active, streak reset, any
    escalation forgotten. None when there is nothing to lift (unknown or already active)."""
    if current is None or current.status is Status.ACTIVE:
        return None
    return replace(
        _manual(current, Status.ACTIVE, now),
        soft_bounce_streak=0,
        escalated=False,
        escalated_after_attempts=None,
    )


def _manual(state: RecipientState, status: Status, now: datetime) -> RecipientState:
    """`state` set by a person: no why but "manual" (the store fills in the manual event's id)."""
    why: dict[str, Any] = {
        **dict.fromkeys(CAUSE_FIELDS),
        "reason": MANUAL,
        "kind": MANUAL,
        "event_occurred_at": now,
    }
    return replace(state, **why, status=status, retry_at=None, since=now)
