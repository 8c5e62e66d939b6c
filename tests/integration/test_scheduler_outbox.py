"""The scheduler announces its own releases at once, and sweeps another instance's only after the
outbox grace (a crash or a failed send): several instances never announce a release together."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bounced.db.store import Store
from bounced.service.scheduler import RECOVERY_MARGIN, RetryScheduler
from tests.support.outcomes import soft_bounce

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
DUE = T0 + timedelta(hours=2)  # past the first General window (1 h, jitter off)


class ManualClock:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at

    async def sleep(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


class Observed:
    def __init__(self) -> None:
        self.released_count = 0

    def released(self, count: int) -> None:
        self.released_count += count

    def scheduler_ran(self) -> None:
        pass

    def failed(self, component: str) -> None:
        raise AssertionError(component)


def scheduler(store: Store, clock: ManualClock, observer: Observed) -> RetryScheduler:
    return RetryScheduler(store=store, clock=clock, observer=observer, interval=1.0)


async def test_a_tick_announces_its_own_releases(store: Store) -> None:
    await store.commit([soft_bounce(["own@example.org"], T0)], now=T0)
    observer = Observed()
    assert await scheduler(store, ManualClock(DUE), observer).tick() == 1
    assert observer.released_count == 1
    assert await store.unannounced_releases(10) == []


async def test_another_instances_fresh_release_is_left_to_it_until_the_grace_passes(store: Store) -> None:
    await store.commit([soft_bounce(["other@example.org"], T0)], now=T0)
    # Another instance released it and has not announced it yet (or crashed before it could).
    [released] = await store.release_due_retries(DUE, limit=10)
    clock = ManualClock(DUE + RECOVERY_MARGIN - timedelta(seconds=1))
    sweeper = scheduler(store, clock, Observed())
    assert await sweeper.tick() == 0
    assert [r.id for r in await store.unannounced_releases(10)] == [released.id]
    clock.at = DUE + RECOVERY_MARGIN
    await sweeper.tick()
    assert await store.unannounced_releases(10) == []
