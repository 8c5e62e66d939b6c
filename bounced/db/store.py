"""The only module that knows the database driver: an asyncpg pool and one method per job.

`commit` writes a received batch in one transaction: quarantine rows, audit rows (idempotent) and
their notifications (the raw payload once each), and for the audit rows that are new, the
addresses' state and retries. The scheduler's side releases due
retries exactly once across any number of instances and keeps an outbox of announcements.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Self

import asyncpg

from bounced.core.batch import (
    CommitSummary,
    EventRow,
    RetryRow,
    SummaryBuilder,
    event_records,
    event_rows,
    provisional_ids,
    quarantine_columns,
    retry_columns,
    state_from_record,
    state_records,
)
from bounced.core.manual import MANUAL
from bounced.core.model import Action, Classified, Outcome, Quarantined, Status
from bounced.core.policy import RetryPolicy
from bounced.core.sendgate import RecipientAnswer
from bounced.core.seslist import SesCall
from bounced.core.state import CancelRetries, Escalate, Event, RecipientState, ScheduleRetry, transition
from bounced.db.migrate import SchemaStatus, schema_status
from bounced.db.queries import sql
from bounced.db.views import (
    EventView,
    Prunable,
    QuarantinedMessage,
    QuarantineView,
    RecipientRow,
    RecipientView,
    ReleasedRetry,
    RetryView,
    from_record,
)

__all__ = ["CommitSummary", "Decide", "Override", "Store"]

Decide = Callable[[RecipientState | None], RecipientState | None]
"""Makes an address's new state from its current one (None: no row), or None for "no change"."""


@dataclass(frozen=True, slots=True)
class Override:
    """A person's change to an address: the state before (None: unknown) and after (None: unchanged)."""

    before: RecipientState | None
    after: RecipientState | None


# A locked write still conflicts when another transaction creates an address it saw as new, or
# records one of its audit rows first; both are rare, and the loser runs again against the new rows.
_CONFLICT_RETRIES = 5

# The transaction advisory lock that makes one instance at a time the sender of the SES outbox
# ("bounced" in ASCII, plus one: the migration lock is the same without it).
SES_SENDER_LOCK_KEY = 0x626F756E636565

RETRY_RELEASED_CHANNEL = "bounced_retry_released"
"""The Postgres NOTIFY channel of released retries: one JSON object per retry with `id`, `address`,
`ses_message_id`, `cause`, `attempt` and `due_at`, sent when the release commits."""


@dataclass
class _AddressWork:
    """One address's new events in a commit, and what applying them produced."""

    events: list[Event] = field(default_factory=list)
    state: RecipientState | None = None
    changed: bool = False
    touched_retries: bool = False
    pending: ScheduleRetry | None = None
    escalations: list[Escalate] = field(default_factory=list)


CLOSE_TIMEOUT = 5.0

# Session settings of the store's connections. The batch statements take arrays whose length
# varies from one row to a thousand; left to itself, PostgreSQL settles on one generic plan after
# five runs and keeps it, which here cost about a third more server CPU per notification at 10 to
# 100 rows a commit (a plan per run costs a fraction of a millisecond).
SERVER_SETTINGS = {"plan_cache_mode": "force_custom_plan"}


class Store:
    """bounced's PostgreSQL: state, audit log, retries and quarantine behind one asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool, policy: RetryPolicy, jitter: Callable[[], float]) -> None:
        self._pool = pool
        self._policy = policy
        self._jitter = jitter

    @staticmethod
    def is_transient(exc: BaseException) -> bool:
        """Whether a call that raised `exc` may succeed if tried again (`is_transient_error`)."""
        return is_transient_error(exc)

    @classmethod
    async def connect(
        cls,
        dsn: str | None,
        *,
        policy: RetryPolicy,
        min_size: int = 1,
        max_size: int = 10,
        jitter: Callable[[], float] = random.random,
    ) -> Self:
        """Open a pool. `dsn` None means the libpq PG* environment variables (asyncpg reads them).
        `jitter` returns a unit in [0, 1) per retry scheduled."""
        pool = await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, server_settings=SERVER_SETTINGS
        )
        return cls(pool, policy, jitter)

    async def close(self) -> None:
        """Close the pool, waiting up to CLOSE_TIMEOUT for connections in use to be released, then
        terminating the rest (a connection stuck on a lock must not hold up shutdown; the server
        rolls back whatever it was doing)."""
        try:
            await asyncio.wait_for(self._pool.close(), CLOSE_TIMEOUT)
        except TimeoutError:
            self._pool.terminate()

    async def ping(self) -> None:
        """Raise unless the database answers."""
        await self._pool.fetchval(sql("ping"))

    async def schema_status(self) -> SchemaStatus:
        """The database's schema against the code's migrations."""
        async with self._pool.acquire() as conn:
            return await schema_status(conn)

    # -- the consumer's side -------------------------------------------------------------------

    async def commit(self, outcomes: Sequence[Outcome], now: datetime) -> CommitSummary:
        """Write a received batch atomically; see the module docstring. Idempotent: committing the
        same outcomes again changes nothing and the summary counts nothing."""
        applied = [o for o in outcomes if isinstance(o, Classified)]
        quarantined = [o for o in outcomes if isinstance(o, Quarantined)]
        quarantined += [o.quarantine for o in applied if o.quarantine is not None]
        rows, duplicates = _distinct(event_rows(applied))
        if not quarantined:
            summary = await self._commit_unlocked(rows, duplicates, now)
            if summary is not None:
                return summary
        for _ in range(_CONFLICT_RETRIES):
            try:
                return await self._commit_locked(quarantined, rows, duplicates, now)
            except _WriteConflictError:
                continue
        raise RuntimeError(f"gave up after {_CONFLICT_RETRIES} conflicts writing the same addresses")

    async def _commit_unlocked(
        self, rows: list[EventRow], duplicates: int, now: datetime
    ) -> CommitSummary | None:
        """The common case in two round trips and no explicit transaction: read the state rows, run
        the rules as if every audit row were new, and write it all in one statement that refuses
        (None) when the read has gone stale or a row was recorded before."""
        summary = SummaryBuilder(duplicates=duplicates)
        event_ids = provisional_ids(len(rows))
        work = _work_of(rows, event_ids, summary)
        async with self._pool.acquire() as conn:
            existing = await self._read_states(conn, sorted(work), lock=False)
            try:
                await self._write(conn, rows, event_ids, work, existing, now=now, summary=summary)
            except _WriteConflictError:
                return None
        return summary.build()

    async def _commit_locked(
        self, quarantined: list[Quarantined], rows: list[EventRow], duplicates: int, now: datetime
    ) -> CommitSummary:
        """One transaction with the state rows locked in address order: quarantine rows, then the
        audit rows not recorded before, and their effects."""
        summary = SummaryBuilder(duplicates=duplicates)
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await self._insert_quarantine(conn, quarantined, now, summary)
                fresh = await self._unrecorded(conn, rows, summary)
                event_ids = provisional_ids(len(fresh))
                work = _work_of(fresh, event_ids, summary)
                existing = await self._read_states(conn, sorted(work), lock=True)
                await self._write(conn, fresh, event_ids, work, existing, now=now, summary=summary)
        except asyncpg.DeadlockDetectedError as exc:  # a writer outside bounced's lock order
            raise _WriteConflictError from exc
        return summary.build()

    async def _insert_quarantine(
        self, conn: Any, items: Sequence[Quarantined], now: datetime, summary: SummaryBuilder
    ) -> None:
        if not items:
            return
        for row in await conn.fetch(sql("insert_quarantine"), *quarantine_columns(items), now):
            summary.quarantined[(row["queue"], row["code"])] += 1

    @staticmethod
    async def _unrecorded(conn: Any, rows: list[EventRow], summary: SummaryBuilder) -> list[EventRow]:
        """The rows whose audit rows are not recorded yet (the others count as duplicates)."""
        if not rows:
            return []
        keys = [list(column) for column in zip(*(row.key for row in rows), strict=True)]
        recorded = {tuple(r) for r in await conn.fetch(sql("recorded_event_keys"), *keys)}
        fresh = [row for row in rows if row.key not in recorded]
        summary.duplicates += len(rows) - len(fresh)
        return fresh

    async def _read_states(self, conn: Any, addresses: list[str], *, lock: bool) -> dict[str, _ReadState]:
        """The state rows of `addresses` that exist, with their versions; `lock`: FOR UPDATE."""
        if not addresses:
            return {}
        records = await conn.fetch(sql("lock_recipients" if lock else "read_recipients"), addresses)
        return {r["address"]: _ReadState(state_from_record(r), r["row_version"]) for r in records}

    async def _write(
        self,
        conn: Any,
        rows: list[EventRow],
        event_ids: list[int],
        work: dict[str, _AddressWork],
        existing: dict[str, _ReadState],
        *,
        now: datetime,
        summary: SummaryBuilder,
    ) -> None:
        """Run the rules over `work` from the states read, then write the batch (`write_batch`) with
        the provisional `event_ids` the work was numbered with; `_WriteConflictError` when the
        database no longer matches the read."""
        if not rows:
            return
        for address in sorted(work):
            read = existing.get(address)
            self._run_rules(work[address], read.state if read else None, now, summary)
        cancel = sorted(a for a, w in work.items() if w.touched_retries and a in existing)
        retry_rows = [RetryRow(a, w.pending, w.pending.due_at) for a, w in work.items() if w.pending]
        retry_rows += [RetryRow(a, e, now) for a, w in work.items() for e in w.escalations]
        states = [(w.state, a not in existing) for a, w in work.items() if w.changed and w.state is not None]
        events, notifications = event_records(rows, event_ids)
        await _write_batch(
            conn,
            [events, now, cancel, *retry_columns(retry_rows)],
            state_records(states, now),
            existing,
            notifications,
        )

    def _run_rules(
        self, work: _AddressWork, before: RecipientState | None, now: datetime, summary: SummaryBuilder
    ) -> None:
        state = before
        for event in sorted(work.events, key=lambda e: (e.notification.occurred_at, e.event_id)):
            result = transition(state, event, policy=self._policy, now=now, jitter_unit=self._jitter())
            state = result.state
            for effect in result.effects:
                _fold_effect(work, effect, summary)
        work.state = state
        work.changed = state != before
        if state is not None and (before is None or state.status is not before.status):
            summary.status_changes[state.status.value] += 1

    # -- the scheduler's side ------------------------------------------------------------------

    async def release_due_retries(self, now: datetime, limit: int) -> list[ReleasedRetry]:
        """Release up to `limit` retries due at `now`, in one transaction: each exactly once however
        many callers race (SKIP LOCKED). The address becomes active again when that retry is still
        the one deferring it. NOTIFY on RETRY_RELEASED_CHANNEL when the release commits."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(sql("release_due_retries"), now, limit)
        return [from_record(ReleasedRetry, row) for row in rows]

    async def unannounced_releases(
        self, limit: int, released_before: datetime | None = None
    ) -> list[ReleasedRetry]:
        """Released retries whose outbound message is not yet sent (an outbox: a crash between
        release and send loses nothing). `released_before` leaves alone those released since then,
        which another instance may be announcing right now."""
        rows = await self._pool.fetch(sql("unannounced_releases"), released_before, limit)
        return [from_record(ReleasedRetry, row) for row in rows]

    async def mark_announced(self, ids: Sequence[int], now: datetime) -> None:
        """Record that these released retries were announced."""
        await self._pool.execute(sql("mark_announced"), list(ids), now)

    # -- SES's suppression list: the outbox -------------------------------------------------------

    async def send_ses_calls(
        self, limit: int, send: Callable[[list[SesCall]], Awaitable[Sequence[int]]]
    ) -> int | None:
        """One pass over the outbox of SES suppression-list calls, in one transaction: become its
        only sender (None when another instance is), read the oldest `limit` calls, let `send` make
        them in order and return the ids it finished, and forget those. Returns how many it finished.
        A crash before the commit makes the same calls again (at least once, never out of order)."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval(sql("lock_ses_sender"), SES_SENDER_LOCK_KEY):
                return None
            calls = [_ses_call(row) for row in await conn.fetch(sql("ses_calls_head"), limit)]
            done = list(await send(calls)) if calls else []
            if done:
                await conn.execute(sql("ses_calls_done"), done)
        return len(done)

    async def ses_calls_pending(self) -> int:
        """How many SES suppression-list calls wait in the outbox."""
        return int(await self._pool.fetchval(sql("ses_calls_pending")))

    # -- the read side -------------------------------------------------------------------------

    async def recipient(self, address: str, *, events_limit: int = 100) -> RecipientView | None:
        """An address's state and its latest events (newest first), or None when unknown."""
        async with self._pool.acquire() as conn:
            record = await conn.fetchrow(sql("recipient"), address)
            if record is None:
                return None
            events = await conn.fetch(sql("recipient_events"), address, events_limit)
        return RecipientView(
            state=state_from_record(record),
            created_at=record["created_at"],
            updated_at=record["updated_at"],
            events=tuple(from_record(EventView, e) for e in events),
        )

    async def quarantine_list(self, limit: int = 1000) -> list[QuarantineView]:
        """Quarantined messages not discarded, oldest first."""
        rows = await self._pool.fetch(sql("quarantine_list"), limit)
        return [from_record(QuarantineView, row) for row in rows]

    async def pending_retries(self, due_before: datetime | None = None, limit: int = 1000) -> list[RetryView]:
        """Pending retries, soonest first; only those due at or before `due_before` when given."""
        rows = await self._pool.fetch(sql("pending_retries"), due_before, limit)
        return [from_record(RetryView, row) for row in rows]

    async def recipient_counts(self) -> dict[str, int]:
        """Addresses per status (every status present, zero when none)."""
        counts = {status.value: 0 for status in Status}
        for row in await self._pool.fetch(sql("recipient_counts")):
            counts[row["status"]] = int(row["n"])
        return counts

    async def pending_retry_count(self) -> int:
        """How many retries are pending."""
        return int(await self._pool.fetchval(sql("pending_retry_count")))

    # -- the send-gate, admin commands and retention ---------------------------------------------

    async def sendgate_answers(self, addresses: Sequence[str]) -> list[RecipientAnswer]:
        """The send-gate's answers for those of `addresses` that have a state row (one query)."""
        rows = await self._pool.fetch(sql("sendgate_answers"), list(addresses))
        return [RecipientAnswer(r["address"], Status(r["status"]), r["reason"], r["retry_at"]) for r in rows]

    async def recipients_page(self, status: Status, after: str | None, limit: int) -> list[RecipientRow]:
        """Up to `limit` addresses in `status`, in address order, after `after` (keyset paging)."""
        rows = await self._pool.fetch(sql("recipients_page"), status.value, after, limit)
        return [from_record(RecipientRow, row) for row in rows]

    async def override(
        self,
        address: str,
        decide: Decide,
        *,
        action: Action,
        actor: str,
        note: str,
        now: datetime,
        kind: str = MANUAL,
    ) -> Override:
        """A person's change to one address, in one transaction: lock its row, let `decide` (pure,
        see `bounced.core.manual`) make the new state from the current one, and when it does, record
        an audit row of `kind` with `actor` and `note`, cancel pending retries and write the state."""
        for _ in range(_CONFLICT_RETRIES):
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    return await self._override(
                        conn, address, decide, action=action, actor=actor, note=note, now=now, kind=kind
                    )
            except _WriteConflictError:
                continue
        raise RuntimeError(f"gave up after {_CONFLICT_RETRIES} conflicts writing {address!r}")

    async def _override(
        self,
        conn: Any,
        address: str,
        decide: Decide,
        *,
        action: Action,
        actor: str,
        note: str,
        now: datetime,
        kind: str,
    ) -> Override:
        existing = await self._read_states(conn, [address], lock=True)
        before = existing[address].state if address in existing else None
        after = decide(before)
        if after is None:
            return Override(before, None)
        event_id = await conn.fetchval(
            sql("insert_manual_event"), address, action.value, after.reason, actor, note, now, kind
        )
        after = replace(after, event_id=event_id)
        cancel = [address] if before is not None else []
        await _write_batch(
            conn,
            [[], now, cancel, *retry_columns([])],
            state_records([(after, before is None)], now),
            existing,
            [],
        )
        return Override(before, after)

    async def quarantined(self, quarantine_id: int) -> QuarantinedMessage | None:
        """One quarantined message with its raw bytes, or None when there is no such id."""
        row = await self._pool.fetchrow(sql("quarantine_get"), quarantine_id)
        return None if row is None else from_record(QuarantinedMessage, row)

    async def replayable_quarantine(self, limit: int = 10_000) -> list[int]:
        """Ids of quarantined messages neither replayed nor discarded, oldest first."""
        return [row["id"] for row in await self._pool.fetch(sql("quarantine_replayable"), limit)]

    async def mark_replayed(self, quarantine_id: int, now: datetime) -> None:
        """A quarantined message went through on replay."""
        await self._pool.execute(sql("quarantine_mark_replayed"), quarantine_id, now)

    async def requarantine(self, quarantine_id: int, code: str, detail: str) -> None:
        """A quarantined message failed again on replay: keep it with the new reason."""
        await self._pool.execute(sql("quarantine_set_reason"), quarantine_id, code, detail)

    async def discard_quarantined(self, quarantine_id: int, now: datetime) -> bool:
        """Set a quarantined message aside; False when it was already discarded (or is unknown)."""
        return await self._pool.fetchval(sql("quarantine_discard"), quarantine_id, now) is not None

    async def prune_payloads(self, before: datetime, limit: int) -> int:
        """Forget the raw JSON of up to `limit` notifications recorded before `before` (its own
        short transaction); returns how many."""
        return int(await self._pool.fetchval(sql("prune_payloads"), before, limit))

    async def prune_quarantine(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` quarantined messages received before `before`; returns how many."""
        return int(await self._pool.fetchval(sql("prune_quarantine"), before, limit))

    async def prunable(self, before: datetime) -> Prunable:
        """What pruning at `before` would remove."""
        return from_record(Prunable, await self._pool.fetchrow(sql("prunable"), before))


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


class _WriteConflictError(Exception):
    """The database no longer matches what a write was computed from: run it again."""


@dataclass(frozen=True, slots=True)
class _ReadState:
    """A state row as read, with its row version (`write_batch` checks it has not changed)."""

    state: RecipientState
    version: str


def _ses_call(row: Any) -> SesCall:
    return SesCall(row["address"], row["operation"], row["reason"], row["event_id"], row["id"])


async def _insert_ses_calls(conn: Any, calls: Sequence[SesCall], now: datetime) -> None:
    """Queue `calls` in the outbox, in order, on `conn` (inside the caller's transaction)."""
    if not calls:
        return
    columns = [
        list(c) for c in zip(*((c.address, c.operation, c.reason, c.event_id) for c in calls), strict=True)
    ]
    await conn.execute(sql("insert_ses_calls"), *columns, now)


def _distinct(rows: list[EventRow]) -> tuple[list[EventRow], int]:
    """The rows with the first of each idempotency key (rows come sorted by key), and how many
    repeated one (a notification twice in one batch)."""
    kept = [row for i, row in enumerate(rows) if i == 0 or row.key != rows[i - 1].key]
    return kept, len(rows) - len(kept)


def _work_of(rows: list[EventRow], event_ids: list[int], summary: SummaryBuilder) -> dict[str, _AddressWork]:
    """Each address's events among `rows`, numbered with their provisional `event_ids`, and the
    rows counted as new in `summary`."""
    work: dict[str, _AddressWork] = defaultdict(_AddressWork)
    for row, event_id in zip(rows, event_ids, strict=True):
        summary.fresh_row(row)
        if row.decision.address and row.decision.action is not Action.IGNORE:
            work[row.decision.address].events.append(row.event(event_id))
    return work


async def _write_batch(
    conn: Any,
    head: list[Any],
    states: list[tuple[Any, ...]],
    read: dict[str, _ReadState],
    notifications: list[Any],
) -> None:
    """Run `write_batch`: `head` is $1..$10, `states` $11; `read` gives $12, $13; `notifications`
    is $14."""
    addresses = sorted(read)
    versions = [read[a].version for a in addresses]
    try:
        await conn.fetchrow(sql("write_batch"), *head, states, addresses, versions, notifications)
    except (asyncpg.SerializationError, asyncpg.DeadlockDetectedError) as exc:
        raise _WriteConflictError from exc


# SQLSTATE classes that say "the server or the connection failed, not your statement":
# 08 connection exception, 53 insufficient resources, 57 operator intervention (shutdown,
# cancel), 58 system error; and 40 transaction rollback (serialization failure, deadlock).
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})


def is_transient_error(exc: BaseException) -> bool:
    """Whether a store call that raised `exc` may succeed if tried again (PostgreSQL unreachable,
    restarting, or a transaction lost a race) rather than being refused for what it asked."""
    if isinstance(exc, asyncpg.PostgresError):
        sqlstate = str(getattr(exc, "sqlstate", "") or "")
        return sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES
    if isinstance(exc, asyncpg.InterfaceError | asyncpg.exceptions.InternalClientError):
        # A connection closed under us, or a pool closing: the server went away mid-call. Or a
        # pooled connection whose protocol the server's restart left mid-operation ("cannot switch
        # to state 15; another operation (2) is in progress"): the connection failed, not the
        # statement, and must not send the batch down the quarantine path.
        return True
    return isinstance(exc, OSError | TimeoutError | ConnectionError)
