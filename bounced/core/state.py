"""The rules that turn one applied decision into an address's new state and retry effects (pure).

`transition(current, event, policy=..., now=..., jitter_unit=...)` is the whole of it. The store
calls it once per newly recorded event, per address in order of `occurred_at`, with the row locked.

    current      | suppress    | retry                | review         | clear (newer) | ignore
    -------------+-------------+----------------------+----------------+---------------+-------
    none, active | suppressed  | deferred (1)         | review         | active (2)    | -
    deferred     | suppressed  | deferred (1)(3)      | review (4)     | active (2)(4) | -
    review       | suppressed  | review (5)           | review (6)     | active (2)    | -
    suppressed   | - (7)       | - (no retry)         | -              | - (8)         | -

(1) streak + 1, retry number `streak` scheduled at the policy's wait; when the windows for its
    cause are used up, or `Decision.escalate` is set: suppressed, `escalated=True`.
(2) streak reset to 0; (3) the new retry replaces the pending one; (4) the pending retry is
    cancelled (also when leaving deferred for suppressed).
(5) a person must look first: the streak counts (and escalates to suppressed when the windows are
    used up) but no retry is scheduled. (6) the newer review's reason and event are kept.
(7) sticky: only a person lifts a suppression; the first reason is kept. (8) `last_delivery_at`
    is still noted.

- "clear (newer)": a delivery changes state only when strictly newer than the last bounce and than
  the event that set the current state; otherwise it only notes `last_delivery_at`.
- Stale events: an event older than the one that set the current state changes nothing but the
  `last_bounce_at` / `last_delivery_at` bookkeeping. One exception: a complaint suppresses whatever
  its age, because a person asked not to be mailed and a later delivery does not withdraw that.
- A retry's `attempt` is the streak after counting this bounce; its due time is the bounce's
  `occurred_at` plus the policy's wait, so a backlog does not make an address rest twice.
- Escalation records `escalated=True` and `escalated_after_attempts` = the retries already used.
- Review causes never touch the streak, so they never count toward escalation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bounced.core.model import Action, Decision, Kind, Notification, Status
from bounced.core.policy import RetryPolicy

_BOUNCE_KINDS = frozenset({Kind.BOUNCE, Kind.DELIVERY_DELAY})


@dataclass(frozen=True, slots=True)
class RecipientState:
    """One address's state, as the `recipients` row holds it."""

    address: str
    status: Status = Status.ACTIVE
    reason: str | None = None
    kind: str | None = None
    bounce_type: str | None = None
    bounce_subtype: str | None = None
    complaint_feedback_type: str | None = None
    diagnostic_code: str | None = None
    event_id: int | None = None  # the event that set the current state, and its ids
    event_ses_message_id: str | None = None
    event_feedback_id: str | None = None
    event_occurred_at: datetime | None = None
    soft_bounce_streak: int = 0
    retry_at: datetime | None = None
    escalated: bool = False
    escalated_after_attempts: int | None = None
    last_bounce_at: datetime | None = None
    last_delivery_at: datetime | None = None
    since: datetime | None = None  # when the address entered its status


CAUSE_FIELDS = (
    "reason",
    "kind",
    "bounce_type",
    "bounce_subtype",
    "complaint_feedback_type",
    "diagnostic_code",
    "event_id",
    "event_ses_message_id",
    "event_feedback_id",
    "event_occurred_at",
)
"""The fields of a state that say why it is what it is: copied from the event that set it."""


@dataclass(frozen=True, slots=True)
class Event:
    """One newly recorded decision for one address, with the notification it came from."""

    event_id: int
    decision: Decision
    notification: Notification
    diagnostic_code: str | None = None


@dataclass(frozen=True, slots=True)
class ScheduleRetry:
    """Schedule retry number `attempt` at `due_at`, replacing any pending retry of the address."""

    cause: str
    attempt: int
    due_at: datetime
    ses_message_id: str | None
    event_id: int


@dataclass(frozen=True, slots=True)
class CancelRetries:
    """Cancel the address's pending retries."""


@dataclass(frozen=True, slots=True)
class Escalate:
    """Cancel pending retries and record that retry `attempt` found the windows used up."""

    cause: str
    attempt: int
    ses_message_id: str | None
    event_id: int


Effect = ScheduleRetry | CancelRetries | Escalate


@dataclass(frozen=True, slots=True)
class Transition:
    """The new state and what to do to the retries table."""

    state: RecipientState
    effects: tuple[Effect, ...] = ()


def transition(
    current: RecipientState | None,
    event: Event,
    *,
    policy: RetryPolicy,
    now: datetime,
    jitter_unit: float,
) -> Transition:
    """Apply one event to an address's state (see the module docstring for the rules)."""
    address = event.decision.address
    if address is None:
        raise ValueError("a decision without an address has no state to change")
    state = current or RecipientState(address=address, since=now)
    action = event.decision.action
    if action is Action.IGNORE:
        return Transition(state)
    times = _noted_times(state, event)
    if _is_stale(state, event):
        return _noted(state, times)
    if action is Action.SUPPRESS:
        return _suppress(state, times, event, now)
    if action is Action.RETRY:
        return _retry(state, times, event, policy=policy, now=now, jitter_unit=jitter_unit)
    if action is Action.REVIEW:
        return _review(state, times, event, now)
    return _clear(state, times, event, now)


def _noted_times(state: RecipientState, event: Event) -> dict[str, Any]:
    """The `last_delivery_at` / `last_bounce_at` bookkeeping every non-ignored event makes, as
    changes to apply with the rest (one `replace` per event: this runs for every event of a batch)."""
    n = event.notification
    if n.kind is Kind.DELIVERY:
        return {"last_delivery_at": _latest(state.last_delivery_at, n.occurred_at)}
    if n.kind in _BOUNCE_KINDS and event.decision.action is not Action.CLEAR:
        return {"last_bounce_at": _latest(state.last_bounce_at, n.occurred_at)}
    return {}


def _latest(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a


def _is_stale(state: RecipientState, event: Event) -> bool:
    n = event.notification
    if n.kind is Kind.COMPLAINT and event.decision.action is Action.SUPPRESS:
        return False
    return state.event_occurred_at is not None and n.occurred_at < state.event_occurred_at


def _noted(state: RecipientState, times: dict[str, Any]) -> Transition:
    """Nothing but the time bookkeeping changes."""
    return Transition(replace(state, **times) if times else state)


def _caused_by(
    state: RecipientState,
    times: dict[str, Any],
    event: Event,
    status: Status,
    now: datetime,
    **changes: Any,
) -> RecipientState:
    """`state` moved to `status` by `event`: the why (CAUSE_FIELDS) copied from it, any retry time
    cleared, the time bookkeeping and `changes` on top. Built field by field rather than with
    `replace`, which costs twice as much, because this runs once for nearly every event of every
    batch (a unit test holds the fields it carries to the dataclass's)."""
    n = event.notification
    values: dict[str, Any] = {
        "address": state.address,
        "status": status,
        "reason": event.decision.reason,
        "kind": n.kind.value,
        "bounce_type": n.bounce_type,
        "bounce_subtype": n.bounce_subtype,
        "complaint_feedback_type": n.complaint_feedback_type,
        "diagnostic_code": event.diagnostic_code,
        "event_id": event.event_id,
        "event_ses_message_id": n.ses_message_id,
        "event_feedback_id": n.feedback_id,
        "event_occurred_at": n.occurred_at,
        "soft_bounce_streak": state.soft_bounce_streak,
        "retry_at": None,
        "escalated": state.escalated,
        "escalated_after_attempts": state.escalated_after_attempts,
        "last_bounce_at": state.last_bounce_at,
        "last_delivery_at": state.last_delivery_at,
        "since": now if status is not state.status or state.since is None else state.since,
        **times,
        **changes,
    }
    return RecipientState(**values)


def _cancel_if_deferred(state: RecipientState) -> tuple[Effect, ...]:
    return (CancelRetries(),) if state.status is Status.DEFERRED else ()


def _suppress(state: RecipientState, times: dict[str, Any], event: Event, now: datetime) -> Transition:
    if state.status is Status.SUPPRESSED:
        return _noted(state, times)
    suppressed = _caused_by(state, times, event, Status.SUPPRESSED, now)
    return Transition(suppressed, _cancel_if_deferred(state))


def _retry(
    state: RecipientState,
    times: dict[str, Any],
    event: Event,
    *,
    policy: RetryPolicy,
    now: datetime,
    jitter_unit: float,
) -> Transition:
    if state.status is Status.SUPPRESSED:
        return _noted(state, times)
    streak = state.soft_bounce_streak + 1
    cause = event.decision.cause or "default"
    wait = None if event.decision.escalate else policy.next_wait(cause, streak, jitter_unit)
    if wait is None:
        return _escalate(state, times, event, cause=cause, streak=streak, now=now)
    if state.status is Status.REVIEW:
        return Transition(replace(state, soft_bounce_streak=streak, **times))
    n = event.notification
    due_at = n.occurred_at + wait
    deferred = _caused_by(
        state, times, event, Status.DEFERRED, now, soft_bounce_streak=streak, retry_at=due_at
    )
    return Transition(deferred, (ScheduleRetry(cause, streak, due_at, n.ses_message_id, event.event_id),))


def _escalate(
    state: RecipientState, times: dict[str, Any], event: Event, *, cause: str, streak: int, now: datetime
) -> Transition:
    suppressed = _caused_by(
        state,
        times,
        event,
        Status.SUPPRESSED,
        now,
        soft_bounce_streak=streak,
        escalated=True,
        escalated_after_attempts=streak - 1,
    )
    effect = Escalate(cause, streak, event.notification.ses_message_id, event.event_id)
    return Transition(suppressed, (effect,))


def _review(state: RecipientState, times: dict[str, Any], event: Event, now: datetime) -> Transition:
    if state.status is Status.SUPPRESSED:
        return _noted(state, times)
    return Transition(_caused_by(state, times, event, Status.REVIEW, now), _cancel_if_deferred(state))


def _clear(state: RecipientState, times: dict[str, Any], event: Event, now: datetime) -> Transition:
    occurred = event.notification.occurred_at
    newer = state.last_bounce_at is None or occurred > state.last_bounce_at
    if state.event_occurred_at is not None and occurred <= state.event_occurred_at:
        newer = False
    if state.status is Status.SUPPRESSED or not newer:
        return _noted(state, times)
    cleared = _caused_by(state, times, event, Status.ACTIVE, now, soft_bounce_streak=0)
    return Transition(cleared, _cancel_if_deferred(state))
