"""The write plan (pure): everything committing a batch, or a person's override, writes.

The store reads the addresses' state rows (and, once a write has conflicted, which audit rows are
recorded already), asks `plan_batch` or `plan_override` for a `WritePlan`, and executes it in one
statement (`write_batch`). Planning runs the state rules (`bounced.core.state.transition`) over
each address's new events in order of occurrence, and reduces their effects to what the tables
need: the retries to cancel, at most one pending retry per address, escalation records, and
(with `ses_push`) the calls to SES's suppression list its state changes ask for
(`bounced.core.seslist.call_for`), queued in the same statement as the changes.

Nothing here knows the database: a plan computed from a read that went stale is refused by the
statement, and the store reads and plans again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bounced.core.batch import (
    CommitSummary,
    EventInput,
    EventRow,
    NotificationInput,
    QuarantineInput,
    RetryInput,
    SummaryBuilder,
    event_records,
    event_rows,
    manual_event,
    provisional_ids,
    quarantine_records,
    retry_record,
    state_records,
)
from bounced.core.manual import MANUAL
from bounced.core.model import Action, Classified, Outcome, Quarantined
from bounced.core.policy import RetryPolicy
from bounced.core.seslist import SesCall, call_for
from bounced.core.state import CancelRetries, Escalate, Event, RecipientState, ScheduleRetry, transition

EventKey = tuple[str, str, str]
"""An audit row's idempotency key: (kind, id, address or ""), as `EventRow.key` computes it."""


@dataclass(frozen=True, slots=True)
class Batch:
    """A received batch made ready to plan (once, however many times it is planned)."""

    rows: tuple[EventRow, ...]  # distinct audit rows, in idempotency-key order
    duplicates: int  # rows that repeated another of the batch (one notification twice)
    quarantine: tuple[Quarantined, ...]
    addresses: tuple[str, ...]  # whose state rows planning needs, sorted

    @property
    def keys(self) -> list[EventKey]:
        """The idempotency keys of the rows."""
        return [row.key for row in self.rows]


@dataclass(frozen=True, slots=True)
class WritePlan:
    """What one `write_batch` writes: each field is one of its inputs, already in lock order."""

    events: tuple[EventInput, ...] = ()
    notifications: tuple[NotificationInput, ...] = ()
    cancel: tuple[str, ...] = ()  # addresses whose pending retries are cancelled
    retries: tuple[RetryInput, ...] = ()  # to insert: pending retries and escalation records
    states: tuple[tuple[Any, ...], ...] = ()  # bounced_state_input (STATE_INPUT_FIELDS)
    quarantine: tuple[QuarantineInput, ...] = ()
    # Calls to SES's suppression list, in address order; `event_id` is provisional like the rows'.
    ses_calls: tuple[SesCall, ...] = ()
    # What the plan changes. Quarantine rows are counted by the store: only the database knows
    # which of them are new.
    summary: CommitSummary = field(default_factory=CommitSummary)

    @property
    def is_empty(self) -> bool:
        """Whether there is nothing to write at all (a redelivered batch)."""
        return not (
            self.events or self.states or self.cancel or self.retries or self.quarantine or self.ses_calls
        )


def prepare(outcomes: Sequence[Outcome]) -> Batch:
    """The audit rows, quarantine rows and addresses of a received batch."""
    applied = [o for o in outcomes if isinstance(o, Classified)]
    quarantined = [o for o in outcomes if isinstance(o, Quarantined)]
    quarantined += [o.quarantine for o in applied if o.quarantine is not None]
    rows = event_rows(applied)
    kept = [row for i, row in enumerate(rows) if i == 0 or row.key != rows[i - 1].key]
    addresses = {
        a for row in kept if (a := row.decision.address) and row.decision.action is not Action.IGNORE
    }
    return Batch(tuple(kept), len(rows) - len(kept), tuple(quarantined), tuple(sorted(addresses)))


def plan_batch(
    batch: Batch,
    states: Mapping[str, RecipientState],
    *,
    recorded: Collection[EventKey] = frozenset(),
    now: datetime,
    policy: RetryPolicy,
    jitter: Callable[[], float],
    ses_push: bool = False,
) -> WritePlan:
    """The plan of `batch` over the `states` read (the addresses that have a row): its audit rows
    but those `recorded` already, and their effects. `jitter` gives a unit in [0, 1) per retry.
    `ses_push`: queue the calls to SES's suppression list the state changes ask for."""
    fresh = [row for row in batch.rows if row.key not in recorded] if recorded else list(batch.rows)
    summary = SummaryBuilder(duplicates=batch.duplicates + len(batch.rows) - len(fresh))
    event_ids = provisional_ids(len(fresh))
    work = _work_of(fresh, event_ids, summary)
    for address in sorted(work):
        _run_rules(work[address], states.get(address), now=now, policy=policy, jitter=jitter, summary=summary)
    events, notifications = event_records(fresh, event_ids)
    changed = [(w.state, a not in states) for a, w in work.items() if w.changed and w.state is not None]
    return WritePlan(
        events=tuple(events),
        notifications=tuple(notifications),
        cancel=tuple(sorted(a for a, w in work.items() if w.touched_retries and a in states)),
        retries=tuple(_retries(work, now)),
        states=tuple(state_records(changed, now)),
        quarantine=tuple(quarantine_records(batch.quarantine)),
        ses_calls=tuple(_ses_calls(work, states)) if ses_push else (),
        summary=summary.build(),
    )


def plan_override(
    before: RecipientState | None,
    after: RecipientState,
    *,
    action: Action,
    actor: str,
    note: str,
    now: datetime,
    kind: str = MANUAL,
    ses_push: bool = False,
) -> WritePlan:
    """A person's change of an address from `before` (None: no row) to `after`: an audit row of
    `kind` with who and why, the state pointing at it, its pending retries cancelled, and (with
    `ses_push`) the call to SES's suppression list the change asks for."""
    event = manual_event(after, action, actor=actor, note=note, now=now, kind=kind)
    state = replace(after, event_id=event.provisional_id)
    changes = {after.status.value: 1} if before is None or before.status is not after.status else {}
    return WritePlan(
        events=(event,),
        cancel=(after.address,) if before is not None else (),
        states=tuple(state_records([(state, before is None)], now)),
        ses_calls=_calls([call_for(before, state)]) if ses_push else (),
        summary=CommitSummary(events={(event.kind, event.action): 1}, status_changes=changes),
    )


@dataclass
class _AddressWork:
    """One address's new events in a plan, and what applying them produced."""

    events: list[Event] = field(default_factory=list)
    state: RecipientState | None = None
    changed: bool = False
    touched_retries: bool = False
    pending: ScheduleRetry | None = None
    escalations: list[Escalate] = field(default_factory=list)


def _work_of(rows: list[EventRow], event_ids: list[int], summary: SummaryBuilder) -> dict[str, _AddressWork]:
    """Each address's events among `rows`, numbered with their provisional `event_ids`, and the
    rows counted as new in `summary`."""
    work: dict[str, _AddressWork] = defaultdict(_AddressWork)
    for row, event_id in zip(rows, event_ids, strict=True):
        summary.fresh_row(row)
        address = row.decision.address
        if address and row.decision.action is not Action.IGNORE:
            work[address].events.append(row.event(event_id))
    return work


def _run_rules(
    work: _AddressWork,
    before: RecipientState | None,
    *,
    now: datetime,
    policy: RetryPolicy,
    jitter: Callable[[], float],
    summary: SummaryBuilder,
) -> None:
    state = before
    for event in sorted(work.events, key=lambda e: (e.notification.occurred_at, e.event_id)):
        result = transition(state, event, policy=policy, now=now, jitter_unit=jitter())
        state = result.state
        for effect in result.effects:
            _fold_effect(work, effect, summary)
    work.state = state
    work.changed = state != before
    if state is not None and (before is None or state.status is not before.status):
        summary.status_changes[state.status.value] += 1


def _fold_effect(
    work: _AddressWork, effect: ScheduleRetry | CancelRetries | Escalate, summary: SummaryBuilder
) -> None:
    """Reduce an address's effects in a batch to: cancel what is pending, then at most one new
    pending retry (the last one scheduled, unless cancelled after) and any escalation records."""
    work.touched_retries = True
    if isinstance(effect, ScheduleRetry):
        work.pending = effect
        summary.retries_scheduled[effect.cause] += 1
    elif isinstance(effect, Escalate):
        work.pending = None
        work.escalations.append(effect)
        summary.escalations[effect.cause] += 1
    else:
        work.pending = None


def _ses_calls(work: Mapping[str, _AddressWork], states: Mapping[str, RecipientState]) -> list[SesCall]:
    """Each changed address's call to SES's suppression list, if its change asks for one."""
    return list(
        _calls(call_for(states.get(a), work[a].state if work[a].changed else None) for a in sorted(work))
    )


def _calls(calls: Iterable[SesCall | None]) -> tuple[SesCall, ...]:
    return tuple(call for call in calls if call is not None)


def _retries(work: Mapping[str, _AddressWork], now: datetime) -> list[RetryInput]:
    """The retries rows to insert: each address's pending retry, then its escalation records."""
    rows = [retry_record(a, w.pending, w.pending.due_at) for a, w in work.items() if w.pending]
    rows += [retry_record(a, e, now) for a, w in work.items() for e in w.escalations]
    return rows
