"""Group commit over the real store: concurrent batches share transactions, and keep their meaning."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
import pytest

from bounced.core.batch import CommitSummary
from bounced.core.model import Outcome, Quarantined
from bounced.db.store import Store, is_transient_error
from bounced.ingest.groupcommit import GroupCommitter
from tests.support.outcomes import hard_bounce, soft_bounce

pytestmark = pytest.mark.integration

AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


class Counting:
    """The real store, counting transactions and refusing any batch holding a poisoned address."""

    def __init__(self, store: Store, poisoned: str | None = None) -> None:
        self.store = store
        self.poisoned = poisoned
        self.commits: list[int] = []

    async def commit(self, outcomes: Sequence[Outcome], now: datetime) -> CommitSummary:
        self.commits.append(len(outcomes))
        for outcome in outcomes:
            if not isinstance(outcome, Quarantined) and any(
                d.address == self.poisoned for d in outcome.decisions
            ):
                raise asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence")
        return await self.store.commit(outcomes, now)


async def test_concurrent_batches_share_transactions_and_count_once(store: Store, store_dsn: str) -> None:
    counting = Counting(store)
    batches = [[hard_bounce([f"g{n}-{i}@example.org"], AT) for i in range(3)] for n in range(12)]
    async with GroupCommitter(counting, is_transient=is_transient_error) as group:
        summaries = await asyncio.gather(*(group.commit(batch, AT) for batch in batches))
    assert sum(counting.commits) == 36
    assert len(counting.commits) < 12  # batches that arrived together were committed together
    assert sum(s.new_events for s in summaries) == 36  # the group's summary is reported once
    conn = await asyncpg.connect(store_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM recipients WHERE status = 'suppressed'") == 36
    finally:
        await conn.close()


async def test_a_refused_group_fails_every_caller_and_is_not_run_again(store: Store) -> None:
    """The group commit splits nothing: every caller gets the refusal (the consumer then commits its
    batch message by message, alone); committed alone, only the bad batch is refused."""
    counting = Counting(store, poisoned="bad@example.org")
    good = [soft_bounce(["fine1@example.org"], AT)], [soft_bounce(["fine2@example.org"], AT)]
    bad = [hard_bounce(["bad@example.org"], AT)]
    async with GroupCommitter(counting, is_transient=is_transient_error) as group:
        first = group.commit(good[0], AT)  # the group's flusher starts with this one
        results = await asyncio.gather(
            first, group.commit(bad, AT), group.commit(good[1], AT), return_exceptions=True
        )
        refused = [isinstance(r, asyncpg.exceptions.CharacterNotInRepertoireError) for r in results]
        assert any(refused)
        assert sum(counting.commits) == 3  # each batch was sent once, and never again
        assert await store.recipient("bad@example.org") is None
        alone = await asyncio.gather(
            *(group.commit_alone(batch, AT) for batch in (good[0], bad, good[1])), return_exceptions=True
        )
    assert [isinstance(r, BaseException) for r in alone] == [False, True, False]
    for address in ("fine1@example.org", "fine2@example.org"):
        view = await store.recipient(address)
        assert view is not None
        assert str(view.state.status) == "deferred"
    assert await store.recipient("bad@example.org") is None


async def test_a_transient_failure_reaches_every_caller(store: Store) -> None:
    class Down:
        async def commit(self, outcomes: Sequence[Outcome], now: datetime) -> CommitSummary:
            raise ConnectionRefusedError("down")

    async with GroupCommitter(Down(), is_transient=is_transient_error) as group:
        results = await asyncio.gather(
            *(group.commit([hard_bounce([f"t{n}@example.org"], AT)], AT) for n in range(3)),
            return_exceptions=True,
        )
    assert all(isinstance(r, ConnectionRefusedError) for r in results)


async def test_a_cancelled_caller_does_not_stop_the_write(store: Store) -> None:
    async with GroupCommitter(store, is_transient=is_transient_error) as group:
        waiting = asyncio.create_task(group.commit([hard_bounce(["gone@example.org"], AT)], AT))
        await asyncio.sleep(0)
        waiting.cancel()
        other = await group.commit([hard_bounce(["stay@example.org"], AT)], AT)
        assert other.new_events >= 0
        for _ in range(50):
            if await store.recipient("gone@example.org") is not None:
                break
            await asyncio.sleep(0.05)
    assert await store.recipient("gone@example.org") is not None  # committed anyway: idempotent if seen again


async def test_closing_cancels_a_group_stuck_on_the_database(store: Store, store_dsn: str) -> None:
    blocker = await asyncpg.connect(store_dsn)
    try:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE recipients IN ACCESS EXCLUSIVE MODE")
        async with GroupCommitter(store, is_transient=is_transient_error) as group:
            stuck = asyncio.create_task(group.commit([hard_bounce(["stuck@example.org"], AT)], AT))
            await asyncio.sleep(0.3)
            assert not stuck.done()
        with pytest.raises(ConnectionAbortedError):
            await stuck
        await transaction.rollback()
    finally:
        await blocker.close()
    assert await store.recipient("stuck@example.org") is None  # rolled back


async def test_with_concurrency_groups_commit_side_by_side_and_all_land(store: Store, store_dsn: str) -> None:
    counting = Counting(store)
    batches = [[hard_bounce([f"c{n}@example.org"], AT)] for n in range(20)]
    async with GroupCommitter(counting, is_transient=is_transient_error, concurrency=3) as group:
        await asyncio.gather(*(group.commit(batch, AT) for batch in batches))
    assert sum(counting.commits) == 20
    conn = await asyncpg.connect(store_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM events") == 20
    finally:
        await conn.close()


async def test_a_commit_right_after_the_last_group_finished_is_not_stranded(store: Store) -> None:
    """The flusher of a finished group is still winding down when its caller resumes; a commit made
    at that very moment must start a new flusher, not wait for one that is ending."""
    async with GroupCommitter(store, is_transient=is_transient_error) as group:
        await group.commit([hard_bounce(["first@example.org"], AT)], AT)
        async with asyncio.timeout(5):
            await group.commit([hard_bounce(["second@example.org"], AT)], AT)
    assert await store.recipient("second@example.org") is not None
