"""The write plan (pure): what a batch or an override writes, from the state rows read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bounced.core import manual, seslist
from bounced.core.batch import STATE_INPUT_FIELDS
from bounced.core.model import Action, Kind, Outcome, Status
from bounced.core.plan import WritePlan, plan_batch, plan_override, prepare
from bounced.core.policy import DEFAULT_POLICY
from bounced.core.state import RecipientState
from tests.support.outcomes import applied, delivery, hard_bounce, notification, poison, soft_bounce

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
H = timedelta(hours=1)
A, B = "a@example.com", "b@example.com"


def _plan(outcomes: Sequence[Outcome], states: Mapping[str, RecipientState] | None = None) -> WritePlan:
    return plan_batch(prepare(outcomes), states or {}, now=T0 + H, policy=DEFAULT_POLICY, jitter=lambda: 0.0)


def _state(plan: WritePlan, address: str) -> dict[str, Any]:
    (row,) = [s for s in plan.states if s[0] == address]
    return dict(zip(STATE_INPUT_FIELDS, row, strict=True))


def test_a_batch_over_unknown_addresses_plans_new_rows_and_retries() -> None:
    quarantined = poison()
    plan = _plan([soft_bounce([A], T0), hard_bounce([B], T0), quarantined])
    assert sorted(e.address or "" for e in plan.events) == [A, B]
    assert {e.provisional_id for e in plan.events} == {-2, -1}
    assert _state(plan, A)["status"] == Status.DEFERRED
    assert _state(plan, A)["is_new"] is True
    assert _state(plan, B)["status"] == Status.SUPPRESSED
    (retry,) = plan.retries
    assert (retry.address, retry.attempt, retry.state, retry.due_at) == (A, 1, "pending", T0 + H)
    assert retry.event_id in {e.provisional_id for e in plan.events if e.address == A}
    assert plan.cancel == ()  # nothing was pending: no row was read
    assert [q.sqs_message_id for q in plan.quarantine] == [quarantined.sqs_message_id]
    assert plan.summary.status_changes == {"deferred": 1, "suppressed": 1}


def test_rows_recorded_already_are_left_out_and_counted_as_duplicates() -> None:
    bounce = soft_bounce([A], T0)
    batch = prepare([bounce, delivery([B], T0)])
    plan = plan_batch(
        batch, {}, recorded=frozenset(batch.keys[:1]), now=T0, policy=DEFAULT_POLICY, jitter=lambda: 0.0
    )
    assert len(plan.events) == 1
    assert plan.summary.duplicates == 1
    assert plan.summary.new_events == 1
    everything = plan_batch(
        batch, {}, recorded=frozenset(batch.keys), now=T0, policy=DEFAULT_POLICY, jitter=lambda: 0.0
    )
    assert everything.is_empty
    assert everything.summary.duplicates == 2


def test_an_address_with_a_row_gets_its_pending_retry_cancelled_and_is_not_new() -> None:
    deferred = RecipientState(A, Status.DEFERRED, soft_bounce_streak=1, retry_at=T0, since=T0)
    plan = _plan([hard_bounce([A], T0 + H)], {A: deferred})
    assert plan.cancel == (A,)
    assert _state(plan, A)["is_new"] is False
    assert plan.retries == ()


def test_planning_is_pure() -> None:
    batch = [soft_bounce([A, B], T0), delivery([B], T0 + H)]
    assert _plan(batch) == _plan(batch)


def test_an_override_plans_a_manual_event_the_state_points_at() -> None:
    before = RecipientState(A, Status.DEFERRED, soft_bounce_streak=1, retry_at=T0, since=T0)
    after = manual.suppressed(before, address=A, now=T0 + H)
    assert after is not None
    plan = plan_override(before, after, action=Action.SUPPRESS, actor="ann", note="asked", now=T0 + H)
    (event,) = plan.events
    assert (event.kind, event.action, event.address, event.actor, event.note) == (
        "manual",
        "suppress",
        A,
        "ann",
        "asked",
    )
    assert (event.occurred_at, event.notification_ref) == (T0 + H, None)
    state = _state(plan, A)
    assert (state["event_id"], state["status"], state["is_new"]) == (
        event.provisional_id,
        Status.SUPPRESSED,
        False,
    )
    assert plan.cancel == (A,)
    assert plan.summary.status_changes == {"suppressed": 1}
    unknown = manual.suppressed(None, address=B, now=T0)
    assert unknown is not None
    fresh = plan_override(None, unknown, action=Action.SUPPRESS, actor="ann", note="asked", now=T0)
    assert fresh.cancel == ()
    assert _state(fresh, B)["is_new"] is True


# -- SES's suppression list ------------------------------------------------------------------------


def _pushing(outcomes: Sequence[Outcome], states: Mapping[str, RecipientState] | None = None) -> WritePlan:
    return plan_batch(
        prepare(outcomes), states or {}, now=T0 + H, policy=DEFAULT_POLICY, jitter=lambda: 0.0, ses_push=True
    )


def test_with_push_each_address_that_becomes_suppressed_is_put_with_its_event() -> None:
    complaint = applied(notification(Kind.COMPLAINT, [A], T0), Action.SUPPRESS, reason="abuse")
    plan = _pushing([hard_bounce([B], T0), complaint, soft_bounce(["c@example.com"], T0)])
    assert [(c.address, c.operation, c.reason) for c in plan.ses_calls] == [
        (A, "put", "COMPLAINT"),
        (B, "put", "BOUNCE"),
    ]
    events = {e.address: e.provisional_id for e in plan.events}
    assert [c.event_id for c in plan.ses_calls] == [events[A], events[B]]
    assert not _plan([hard_bounce([B], T0)]).ses_calls  # off: nothing


def test_a_suppressed_address_bounced_again_asks_nothing() -> None:
    suppressed = RecipientState(address=A, status=Status.SUPPRESSED, kind="bounce", event_occurred_at=T0)
    plan = _pushing([hard_bounce([A], T0 + H)], {A: suppressed})
    assert plan.ses_calls == ()


def test_an_escalation_is_put_as_a_bounce() -> None:
    windows = len(DEFAULT_POLICY.windows_for("General"))
    streak = RecipientState(
        address=A, status=Status.DEFERRED, soft_bounce_streak=windows, retry_at=T0, event_occurred_at=T0
    )
    plan = _pushing([soft_bounce([A], T0 + H)], {A: streak})
    assert _state(plan, A)["status"] == Status.SUPPRESSED
    assert [(c.operation, c.reason) for c in plan.ses_calls] == [("put", "BOUNCE")]


def test_an_override_out_of_suppressed_deletes_and_an_import_asks_nothing() -> None:
    suppressed = RecipientState(address=A, status=Status.SUPPRESSED, kind="bounce", event_occurred_at=T0)
    after = manual.activated(suppressed, now=T0 + H)
    assert after is not None
    plan = plan_override(
        suppressed, after, action=Action.CLEAR, actor="ops", note="why", now=T0 + H, ses_push=True
    )
    (call,) = plan.ses_calls
    assert (call.operation, call.reason, call.event_id) == ("delete", None, plan.events[0].provisional_id)
    listed = seslist.imported(None, address=B, ses_reason="BOUNCE", now=T0)
    assert listed is not None
    imported = plan_override(
        None,
        listed,
        action=Action.SUPPRESS,
        actor="ops",
        note="why",
        now=T0,
        kind=seslist.SES_LIST_KIND,
        ses_push=True,
    )
    assert imported.ses_calls == ()
    assert imported.events[0].kind == seslist.SES_LIST_KIND
