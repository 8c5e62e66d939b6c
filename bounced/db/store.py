"""The only module that knows the database driver: an asyncpg pool and one method per job.

Every write of state has one mechanism. `commit` (a received batch) and `override` (a person's
change) read the state rows they need without locking them, let `bounced.core.plan` make a
`WritePlan` from what they read, and execute it as one statement, `write_batch`: all of it, or
nothing when the rows read have changed since (SQLSTATE 40001, a write conflict).

Who retries what, each concern in one place:

- A write conflict: this module, until the write goes through. A conflict means another writer
  changed the same rows between the read and the write; reading and planning again, after a short
  jittered pause, takes that change into account. A conflict never reaches a caller, and is never
  an error.
- PostgreSQL unreachable or restarting (`is_transient_error`): the caller. The consumer tries
  again with backoff, then closes its database gate until a probe gets through
  (`bounced.ingest.consumer`); a command fails and says so.
- A statement PostgreSQL refuses for what it holds (a value it cannot store): nobody runs it again
  whole. The consumer commits that batch message by message and quarantines only the message
  refused alone, as `store_rejected`.

The scheduler's side releases due retries exactly once across any number of instances and keeps an
outbox of announcements.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self, TypeAlias, TypeVar

import asyncpg
import structlog

from bounced.core.batch import CommitSummary, state_from_record
from bounced.core.manual import MANUAL
from bounced.core.model import Action, Outcome, Status
from bounced.core.plan import Batch, EventKey, WritePlan, plan_batch, plan_override, prepare
from bounced.core.policy import RetryPolicy
from bounced.core.sendgate import RecipientAnswer
from bounced.core.seslist import SesCall
from bounced.core.state import RecipientState
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


log = structlog.get_logger("bounced.db.store")

_T = TypeVar("_T")
if TYPE_CHECKING:  # the driver's classes are generic in its stubs only
    from asyncpg.pool import PoolConnectionProxy

    Connection: TypeAlias = PoolConnectionProxy[asyncpg.Record]

# The pause before planning again after the n-th write conflict in a row: a random part (full
# jitter) of FIRST doubled per conflict, at most MAX. Conflicting writers are usually two batches
# over the same addresses committing at the same moment; the jitter keeps them from meeting again.
CONFLICT_PAUSE_FIRST = 0.002
CONFLICT_PAUSE_MAX = 0.2
# Every this many conflicts in a row on one write, a warning: progress is slow (a hot address
# under heavy contention), or something rewrites the rows bounced reads for ever.
CONFLICTS_WARN_EVERY = 20

# The transaction advisory lock that makes one instance at a time the sender of the SES outbox
# ("bounced" in ASCII, plus one: the migration lock is the same without it).
SES_SENDER_LOCK_KEY = 0x626F756E636565

RETRY_RELEASED_CHANNEL = "bounced_retry_released"
"""The Postgres NOTIFY channel of released retries: one JSON object per retry with `id`, `address`,
`ses_message_id`, `cause`, `attempt` and `due_at`, sent when the release commits."""


CLOSE_TIMEOUT = 5.0

# Session settings of the store's connections. The batch statements take arrays whose length
# varies from one row to a thousand; left to itself, PostgreSQL settles on one generic plan after
# five runs and keeps it, which here cost about a third more server CPU per notification at 10 to
# 100 rows a commit (a plan per run costs a fraction of a millisecond).
SERVER_SETTINGS = {"plan_cache_mode": "force_custom_plan"}


class Store:
    """bounced's PostgreSQL: state, audit log, retries and quarantine behind one asyncpg pool."""

    def __init__(
        self,
        pool: asyncpg.Pool[asyncpg.Record],
        policy: RetryPolicy,
        jitter: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        *,
        ses_push: bool = False,
    ) -> None:
        self._pool = pool
        self._policy = policy
        self._jitter = jitter
        self._sleep = sleep
        self._ses_push = ses_push

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
        ses_push: bool = False,
    ) -> Self:
        """Open a pool. `dsn` None means the libpq PG* environment variables (asyncpg reads them).
        `jitter` returns a unit in [0, 1) per retry scheduled and per pause after a write conflict.
        `ses_push` (`BOUNCED_SES_SUPPRESSION=push`): every write that makes an address suppressed,
        or lifts its suppression, queues the call to SES's suppression list in the same statement."""
        pool = await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, server_settings=SERVER_SETTINGS
        )
        return cls(pool, policy, jitter, ses_push=ses_push)

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
        """Write a received batch in one statement: its quarantine rows, its audit rows (idempotent)
        and their notifications (the raw payload once each), and for the audit rows that are new,
        the addresses' state and retries. Idempotent: committing the same outcomes again changes
        nothing and the summary counts nothing. Write conflicts are resolved here (see the module
        docstring); what it raises is PostgreSQL's refusal or absence."""
        batch = prepare(outcomes)

        async def attempt(conn: Connection, conflicted: bool) -> CommitSummary:
            # The first attempt takes every audit row for new (the common case, and one round trip
            # fewer); after a conflict, some may be recorded by then: a redelivery, or another
            # poller committing the same notification.
            recorded = await _recorded(conn, batch) if conflicted else frozenset()
            read = await self._read_states(conn, batch.addresses)
            states = {address: r.state for address, r in read.items()}
            plan = plan_batch(
                batch,
                states,
                recorded=recorded,
                now=now,
                policy=self._policy,
                jitter=self._jitter,
                ses_push=self._ses_push,
            )
            written = await _execute(conn, plan, read, now)
            return replace(plan.summary, quarantined=written.quarantined)

        return await self._until_written(attempt)

    async def commit_alone(self, outcomes: Sequence[Outcome], now: datetime) -> CommitSummary:
        """`commit`: the store commits each batch in a transaction of its own."""
        return await self.commit(outcomes, now)

    async def _until_written(self, attempt: Callable[[Connection, bool], Awaitable[_T]]) -> _T:
        """Run `attempt` (read, plan, write) until its write does not conflict; it is told whether
        an earlier one did."""
        conflicts = 0
        while True:
            try:
                async with self._pool.acquire() as conn:
                    return await attempt(conn, conflicts > 0)
            except _WriteConflictError:
                conflicts += 1
            if conflicts % CONFLICTS_WARN_EVERY == 0:
                log.warning("write_conflicts", conflicts=conflicts)
            await self._sleep(conflict_pause(conflicts, self._jitter()))

    async def _read_states(self, conn: Connection, addresses: Sequence[str]) -> dict[str, _ReadState]:
        """The state rows of `addresses` that exist, with their versions (no lock)."""
        if not addresses:
            return {}
        records = await conn.fetch(sql("read_recipients"), list(addresses))
        return {r["address"]: _ReadState(state_from_record(r), r["row_version"]) for r in records}

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
        """A person's change to one address, written like a batch (one statement, planned from the
        row read, planned again on a conflict): `decide` (pure, see `bounced.core.manual`) makes
        the new state from the current one, and when it does, an audit row of `kind` with `actor`
        and `note` is recorded, pending retries are cancelled and the state written (and the call
        to SES's suppression list queued, with `ses_push`)."""

        async def attempt(conn: Connection, conflicted: bool) -> Override:
            read = await self._read_states(conn, [address])
            before = read[address].state if address in read else None
            after = decide(before)
            if after is None:
                return Override(before, None)
            plan = plan_override(
                before,
                after,
                action=action,
                actor=actor,
                note=note,
                now=now,
                kind=kind,
                ses_push=self._ses_push,
            )
            written = await _execute(conn, plan, read, now)
            return Override(before, replace(after, event_id=written.event_ids[0]))

        return await self._until_written(attempt)

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
        (row,) = await self._pool.fetch(sql("prunable"), before)  # one row of counts
        return from_record(Prunable, row)


class _WriteConflictError(Exception):
    """The database no longer matches what a write was planned from: read and plan again."""


@dataclass(frozen=True, slots=True)
class _ReadState:
    """A state row as read, with its row version (`write_batch` checks it has not changed)."""

    state: RecipientState
    version: str


@dataclass(frozen=True, slots=True)
class _Written:
    """What `write_batch` reports: the audit rows' ids (in plan order) and the new quarantine rows
    per (queue, code)."""

    event_ids: list[int]
    quarantined: dict[tuple[str, str], int]


def _ses_call_columns(calls: Sequence[SesCall]) -> list[list[Any]]:
    """`write_batch`'s $10..$13: the outbox rows as four parallel arrays."""
    return [
        [c.address for c in calls],
        [c.operation for c in calls],
        [c.reason for c in calls],
        [c.event_id for c in calls],
    ]


def _ses_call(row: asyncpg.Record) -> SesCall:
    return SesCall(row["address"], row["operation"], row["reason"], row["event_id"], row["id"])


def conflict_pause(conflicts: int, unit: float) -> float:
    """Seconds to pause after `conflicts` write conflicts in a row; `unit` in [0, 1) is the jitter."""
    return unit * min(CONFLICT_PAUSE_MAX, CONFLICT_PAUSE_FIRST * 2.0 ** min(conflicts - 1, 32))


async def _recorded(conn: Connection, batch: Batch) -> frozenset[EventKey]:
    """The idempotency keys of the batch's audit rows that are recorded already."""
    if not batch.rows:
        return frozenset()
    keys = [list(column) for column in zip(*batch.keys, strict=True)]
    return frozenset(
        (r["kind"], r["idem"], r["address"]) for r in await conn.fetch(sql("recorded_event_keys"), *keys)
    )


async def _execute(
    conn: Connection, plan: WritePlan, read: Mapping[str, _ReadState], now: datetime
) -> _Written:
    """Run `write_batch` for `plan`, planned from the rows `read`; `_WriteConflictError` when the
    database no longer matches that read."""
    if plan.is_empty:
        return _Written([], {})
    addresses = sorted(read)
    versions = [read[a].version for a in addresses]
    try:
        (row,) = await conn.fetch(
            sql("write_batch"),
            list(plan.events),
            now,
            list(plan.cancel),
            list(plan.retries),
            list(plan.states),
            addresses,
            versions,
            list(plan.notifications),
            list(plan.quarantine),
            *_ses_call_columns(plan.ses_calls),
        )
    except (asyncpg.SerializationError, asyncpg.DeadlockDetectedError) as exc:
        raise _WriteConflictError from exc
    quarantined: dict[tuple[str, str], int] = {}
    for queue, code in row["quarantined"]:
        quarantined[(queue, code)] = quarantined.get((queue, code), 0) + 1
    return _Written(list(row["event_ids"]), quarantined)


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
