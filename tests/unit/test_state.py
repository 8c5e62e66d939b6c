"""The state rules: every transition in the table, out-of-order pairs, sticky suppression."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest

from bounced.core.model import Action, Decision, Kind, Notification, Recipient, Status
from bounced.core.policy import RetryPolicy
from bounced.core.state import (
    CAUSE_FIELDS,
    CancelRetries,
    Escalate,
    Event,
    RecipientState,
    ScheduleRetry,
    Transition,
    transition,
)

ADDRESS = "someone@example.com"
T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
NOW = T0 + timedelta(days=30)
H = timedelta(hours=1)
POLICY = RetryPolicy(windows={"General": (1 * H, 6 * H, 24 * H), "MailboxFull": (24 * H,)}, jitter=0.5)
_ids = count(1)


def event(
    action: Action,
    at: datetime = T0,
    *,
    kind: Kind | None = None,
    cause: str | None = None,
    reason: str = "some-reason",
    escalate: bool = False,
) -> Event:
    default_kind = {Action.CLEAR: Kind.DELIVERY, Action.IGNORE: Kind.OPEN}.get(action, Kind.BOUNCE)
    if action is Action.RETRY and cause is None:
        cause = "General"
    notification = Notification(
        kind=kind or default_kind,
        occurred_at=at,
        recipients=(Recipient(ADDRESS),),
        ses_message_id=f"ses-{next(_ids)}",
        feedback_id=f"fb-{next(_ids)}",
        bounce_type="Transient" if action is Action.RETRY else None,
    )
    decision = Decision(action, ADDRESS, reason, cause=cause, escalate=escalate)
    return Event(event_id=next(_ids), decision=decision, notification=notification)


def apply(current: RecipientState | None, *events: Event, unit: float = 0.0) -> Transition:
    """The last transition of applying `events` in turn."""
    result = Transition(current or RecipientState(ADDRESS, since=T0))
    state: RecipientState | None = current
    for e in events:
        result = transition(state, e, policy=POLICY, now=NOW, jitter_unit=unit)
        state = result.state
    return result


def state_of(*events: Event) -> RecipientState:
    return apply(None, *events).state


def test_suppress_from_nothing() -> None:
    e = event(Action.SUPPRESS, reason="user-unknown")
    result = apply(None, e)
    assert result.state.status is Status.SUPPRESSED
    assert result.state.reason == "user-unknown"
    assert result.state.event_id == e.event_id
    assert result.state.event_ses_message_id == e.notification.ses_message_id
    assert result.state.event_occurred_at == T0
    assert result.state.since == NOW
    assert result.effects == ()


def test_retry_defers_with_attempt_one_at_occurred_plus_wait() -> None:
    e = event(Action.RETRY, cause="General")
    result = apply(None, e)
    assert result.state.status is Status.DEFERRED
    assert result.state.soft_bounce_streak == 1
    assert result.state.retry_at == T0 + H
    assert result.effects == (ScheduleRetry("General", 1, T0 + H, e.notification.ses_message_id, e.event_id),)


def test_retry_wait_carries_jitter() -> None:
    result = apply(None, event(Action.RETRY, cause="General"), unit=1.0)
    assert result.state.retry_at == T0 + 1.5 * H


def test_retries_climb_the_ladder_then_escalate() -> None:
    state: RecipientState | None = None
    attempts = []
    for n in range(3):
        result = transition(state, event(Action.RETRY, T0 + n * H), policy=POLICY, now=NOW, jitter_unit=0)
        state = result.state
        attempts.append(
            [(e.attempt, e.due_at - (T0 + n * H)) for e in result.effects if isinstance(e, ScheduleRetry)]
        )
    assert attempts == [[(1, H)], [(2, 6 * H)], [(3, 24 * H)]]
    last = transition(state, event(Action.RETRY, T0 + 3 * H), policy=POLICY, now=NOW, jitter_unit=0)
    assert last.state.status is Status.SUPPRESSED
    assert last.state.escalated is True
    assert last.state.escalated_after_attempts == 3
    assert last.state.retry_at is None
    assert [type(e) for e in last.effects] == [Escalate]
    assert isinstance(last.effects[0], Escalate)
    assert last.effects[0].attempt == 4


def test_decision_escalate_suppresses_at_once_keeping_the_reason() -> None:
    result = apply(None, event(Action.RETRY, reason="domain-not-found", escalate=True))
    assert result.state.status is Status.SUPPRESSED
    assert result.state.reason == "domain-not-found"
    assert result.state.escalated is True
    assert result.state.escalated_after_attempts == 0


def test_unnamed_cause_uses_the_default_windows() -> None:
    policy = RetryPolicy(windows={}, default=(2 * H,))
    result = transition(None, event(Action.RETRY, cause="Odd"), policy=policy, now=NOW, jitter_unit=0)
    assert result.state.retry_at == T0 + 2 * H


@pytest.mark.parametrize("action", [Action.RETRY, Action.REVIEW, Action.CLEAR, Action.SUPPRESS])
def test_suppression_is_sticky(action: Action) -> None:
    first = event(Action.SUPPRESS, T0, reason="user-unknown")
    result = apply(None, first, event(action, T0 + H, reason="later"))
    assert result.state.status is Status.SUPPRESSED
    assert result.state.reason == "user-unknown"
    assert result.state.event_id == first.event_id
    assert result.effects == ()


def test_suppression_cancels_a_pending_retry() -> None:
    result = apply(None, event(Action.RETRY, T0), event(Action.SUPPRESS, T0 + H))
    assert result.state.status is Status.SUPPRESSED
    assert result.effects == (CancelRetries(),)


def test_newer_delivery_resets_the_streak_and_cancels() -> None:
    result = apply(None, event(Action.RETRY, T0), event(Action.CLEAR, T0 + H))
    assert result.state.status is Status.ACTIVE
    assert result.state.soft_bounce_streak == 0
    assert result.state.retry_at is None
    assert result.state.last_delivery_at == T0 + H
    assert result.effects == (CancelRetries(),)


def test_after_a_reset_the_next_bounce_starts_at_window_one() -> None:
    result = apply(
        None, event(Action.RETRY, T0), event(Action.RETRY, T0 + H), event(Action.CLEAR, T0 + 2 * H)
    )
    again = transition(result.state, event(Action.RETRY, T0 + 3 * H), policy=POLICY, now=NOW, jitter_unit=0)
    assert again.state.soft_bounce_streak == 1
    assert again.state.retry_at == T0 + 4 * H


def test_older_delivery_arriving_late_does_not_reset() -> None:
    result = apply(None, event(Action.RETRY, T0 + H), event(Action.CLEAR, T0))
    assert result.state.status is Status.DEFERRED
    assert result.state.soft_bounce_streak == 1
    assert result.state.last_delivery_at == T0
    assert result.effects == ()


def test_delivery_at_the_same_instant_as_the_bounce_does_not_reset() -> None:
    result = apply(None, event(Action.RETRY, T0), event(Action.CLEAR, T0))
    assert result.state.status is Status.DEFERRED


def test_older_hard_bounce_arriving_after_a_newer_delivery_does_not_suppress() -> None:
    result = apply(None, event(Action.CLEAR, T0 + H), event(Action.SUPPRESS, T0))
    assert result.state.status is Status.ACTIVE
    assert result.state.last_bounce_at == T0


def test_older_soft_bounce_arriving_late_changes_nothing() -> None:
    first = event(Action.RETRY, T0 + H)
    result = apply(None, first, event(Action.RETRY, T0))
    assert result.state.soft_bounce_streak == 1
    assert result.state.event_id == first.event_id
    assert result.effects == ()


def test_a_complaint_suppresses_whatever_its_age() -> None:
    result = apply(None, event(Action.CLEAR, T0 + H), event(Action.SUPPRESS, T0, kind=Kind.COMPLAINT))
    assert result.state.status is Status.SUPPRESSED
    assert result.state.kind == "complaint"


def test_review_marks_and_cancels_a_pending_retry() -> None:
    result = apply(None, event(Action.RETRY, T0), event(Action.REVIEW, T0 + H, reason="message-too-large"))
    assert result.state.status is Status.REVIEW
    assert result.state.reason == "message-too-large"
    assert result.state.soft_bounce_streak == 1
    assert result.effects == (CancelRetries(),)


def test_review_never_counts_toward_escalation() -> None:
    state = state_of(*(event(Action.REVIEW, T0 + n * H) for n in range(10)))
    assert state.status is Status.REVIEW
    assert state.soft_bounce_streak == 0


def test_retry_while_in_review_counts_but_schedules_nothing() -> None:
    result = apply(None, event(Action.REVIEW, T0), event(Action.RETRY, T0 + H))
    assert result.state.status is Status.REVIEW
    assert result.state.soft_bounce_streak == 1
    assert result.effects == ()


def test_retry_while_in_review_escalates_when_windows_are_used_up() -> None:
    events = [event(Action.REVIEW, T0), *(event(Action.RETRY, T0 + (n + 1) * H) for n in range(4))]
    assert state_of(*events).status is Status.SUPPRESSED


def test_newer_delivery_clears_a_review_mark_older_one_does_not() -> None:
    review = event(Action.REVIEW, T0 + H)
    assert apply(None, review, event(Action.CLEAR, T0)).state.status is Status.REVIEW
    assert apply(None, review, event(Action.CLEAR, T0 + 2 * H)).state.status is Status.ACTIVE


def test_ignore_changes_nothing() -> None:
    before = state_of(event(Action.RETRY, T0))
    result = transition(before, event(Action.IGNORE, T0 + H), policy=POLICY, now=NOW, jitter_unit=0)
    assert result.state == before
    assert result.effects == ()


def test_a_second_retry_replaces_the_pending_one() -> None:
    result = apply(None, event(Action.RETRY, T0), event(Action.RETRY, T0 + H))
    assert result.state.soft_bounce_streak == 2
    assert [type(e) for e in result.effects] == [ScheduleRetry]


def test_since_moves_only_when_the_status_changes() -> None:
    first = transition(None, event(Action.REVIEW, T0), policy=POLICY, now=NOW, jitter_unit=0)
    later = NOW + H
    second = transition(first.state, event(Action.REVIEW, T0 + H), policy=POLICY, now=later, jitter_unit=0)
    assert second.state.since == NOW


def test_a_decision_without_address_is_refused() -> None:
    e = event(Action.IGNORE)
    e = replace(e, decision=replace(e.decision, address=None))
    with pytest.raises(ValueError, match="without an address"):
        transition(None, e, policy=POLICY, now=NOW, jitter_unit=0)


def test_a_change_of_status_carries_every_field_it_does_not_set() -> None:
    """The state a cause produces is built field by field: none may fall back to its default."""
    state = RecipientState(
        address=ADDRESS,
        status=Status.DEFERRED,
        reason="mailbox-full",
        kind="bounce",
        bounce_type="Transient",
        bounce_subtype="MailboxFull",
        complaint_feedback_type="abuse",
        diagnostic_code="452 full",
        event_id=7,
        event_ses_message_id="ses-old",
        event_feedback_id="fb-old",
        event_occurred_at=T0,
        soft_bounce_streak=2,
        retry_at=T0 + H,
        escalated=True,
        escalated_after_attempts=1,
        last_bounce_at=T0,
        last_delivery_at=T0 - H,
        since=T0,
    )
    defaults = {f.name: f.default for f in fields(RecipientState)}
    assert all(getattr(state, name) != default for name, default in defaults.items()), "set every field"
    result = transition(state, event(Action.SUPPRESS, T0 + H), policy=POLICY, now=NOW, jitter_unit=0.0)
    set_by_the_cause = {*CAUSE_FIELDS, "status", "retry_at", "since", "last_bounce_at"}
    carried = {name for name in defaults if name not in set_by_the_cause}
    assert {name for name in carried if getattr(result.state, name) != getattr(state, name)} == set()
    assert result.state.status is Status.SUPPRESSED
