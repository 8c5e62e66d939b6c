"""Retention over a real PostgreSQL: small batches, skip what a batch holds, never the state rows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg

from bounced.db.store import Store
from bounced.service import retention
from bounced.service.supervise import Backoff
from tests.support.outcomes import hard_bounce

NOW = datetime(2026, 11, 1, tzinfo=UTC)
OLD = NOW - timedelta(days=200)


async def _kept_payloads(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM notifications WHERE payload IS NOT NULL"))
    finally:
        await conn.close()


async def test_prune_goes_in_batches_until_nothing_old_is_left(store: Store, store_dsn: str) -> None:
    await store.commit([hard_bounce([f"u{i}@example.org"], OLD) for i in range(5)], OLD)
    await store.commit([hard_bounce(["recent@example.org"], NOW)], NOW)
    pruned = await retention.prune(store, NOW, days=180, batch=2)
    assert (pruned.payloads, pruned.quarantined, pruned.total) == (5, 0, 5)
    assert await _kept_payloads(store_dsn) == 1
    assert (await store.recipient_counts())["suppressed"] == 6
    assert await retention.prune(store, NOW, days=180, batch=2) == retention.Pruned()


async def test_prune_keeps_the_audit_rows_and_their_link_to_the_notification(
    store: Store, store_dsn: str
) -> None:
    await store.commit([hard_bounce(["a@example.org", "b@example.org"], OLD)], OLD)
    assert (await retention.prune(store, NOW, days=180)).payloads == 1
    view = await store.recipient("a@example.org")
    assert view is not None
    (event,) = view.events
    assert event.notification_id is not None
    assert (event.kind, event.action, event.payload_kept) == ("bounce", "suppress", False)
    conn = await asyncpg.connect(store_dsn)
    try:
        assert await conn.fetchval("SELECT count(DISTINCT notification_id) FROM events") == 1
        assert await conn.fetchval("SELECT count(*) FROM events") == 2
    finally:
        await conn.close()


async def test_prune_skips_rows_another_transaction_holds(store: Store, store_dsn: str) -> None:
    await store.commit([hard_bounce(["a@example.org"], OLD), hard_bounce(["b@example.org"], OLD)], OLD)
    holder = await asyncpg.connect(store_dsn)
    try:
        async with holder.transaction():
            await holder.execute(
                "SELECT n.id FROM notifications AS n JOIN events AS e ON e.notification_id = n.id"
                " WHERE e.address = 'a@example.org' FOR UPDATE OF n"
            )
            pruned = await asyncio.wait_for(retention.prune(store, NOW, days=180), timeout=5)
        assert pruned.payloads == 1
    finally:
        await holder.close()
    assert (await retention.prune(store, NOW, days=180)).payloads == 1


class _OneRoundClock:
    """Hands out `now`; its sleep ends the loop by setting the stop event."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return NOW

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.stop.set()


async def test_the_daemon_task_prunes_then_waits_its_interval(store: Store, store_dsn: str) -> None:
    await store.commit([hard_bounce(["a@example.org"], OLD)], OLD)
    stop = asyncio.Event()
    clock = _OneRoundClock(stop)
    await asyncio.wait_for(retention.run(store, clock, 180, stop, interval=60), timeout=5)
    assert await _kept_payloads(store_dsn) == 0
    assert clock.sleeps == [60]


class _BrokenStore:
    async def prune_payloads(self, before: datetime, limit: int) -> int:
        raise ConnectionError("database down")


async def test_a_failed_prune_does_not_end_the_task() -> None:
    stop = asyncio.Event()
    clock = _OneRoundClock(stop)
    await asyncio.wait_for(retention.run(_BrokenStore(), clock, 180, stop), timeout=5)  # type: ignore[arg-type]
    assert clock.sleeps == [retention.INTERVAL_SECONDS]


async def test_a_failed_prune_is_counted_and_tried_again_after_the_backoff() -> None:
    stop = asyncio.Event()
    clock = _OneRoundClock(stop)
    errors: list[str] = []
    backoff = Backoff(first=60.0, longest=3600.0)
    run = retention.run(_BrokenStore(), clock, 180, stop, backoff=backoff, on_error=errors.append)  # type: ignore[arg-type]
    await asyncio.wait_for(run, timeout=5)
    assert errors == ["retention"]
    assert clock.sleeps == [60.0]


async def test_a_set_stop_ends_a_prune_between_batches(store: Store, store_dsn: str) -> None:
    await store.commit([hard_bounce([f"u{i}@example.org"], OLD) for i in range(3)], OLD)
    stop = asyncio.Event()
    stop.set()
    assert await retention.prune(store, NOW, days=180, batch=1, stop=stop) == retention.Pruned()
    assert await _kept_payloads(store_dsn) == 3
