"""A person's overrides as pure state changes."""

from __future__ import annotations

from datetime import UTC, datetime

from bounced.core import manual
from bounced.core.model import Status
from bounced.core.state import RecipientState

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
EARLIER = datetime(2026, 3, 1, tzinfo=UTC)


def _state(status: Status, **extra: object) -> RecipientState:
    return RecipientState(address="a@example.org", status=status, since=EARLIER, **extra)  # type: ignore[arg-type]


def test_suppressing_an_unknown_address_makes_a_manual_suppression() -> None:
    after = manual.suppressed(None, address="a@example.org", now=NOW)
    assert after is not None
    assert (after.status, after.reason, after.kind, after.since, after.event_occurred_at) == (
        Status.SUPPRESSED,
        "manual",
        "manual",
        NOW,
        NOW,
    )


def test_suppressing_a_deferred_address_drops_its_retry_time() -> None:
    after = manual.suppressed(_state(Status.DEFERRED, retry_at=NOW), address="a@example.org", now=NOW)
    assert after is not None
    assert after.retry_at is None


def test_an_existing_suppression_is_left_alone() -> None:
    assert (
        manual.suppressed(_state(Status.SUPPRESSED, reason="complaint"), address="a@example.org", now=NOW)
        is None
    )


def test_activating_resets_streak_and_escalation_and_keeps_history_times() -> None:
    current = _state(
        Status.SUPPRESSED,
        reason="user-unknown",
        bounce_type="Permanent",
        soft_bounce_streak=3,
        escalated=True,
        escalated_after_attempts=3,
        last_bounce_at=EARLIER,
    )
    after = manual.activated(current, now=NOW)
    assert after is not None
    assert (after.status, after.soft_bounce_streak, after.escalated, after.bounce_type) == (
        Status.ACTIVE,
        0,
        False,
        None,
    )
    assert after.last_bounce_at == EARLIER
    assert after.event_occurred_at == NOW


def test_nothing_to_activate_for_an_unknown_or_active_address() -> None:
    assert manual.activated(None, now=NOW) is None
    assert manual.activated(_state(Status.ACTIVE), now=NOW) is None
