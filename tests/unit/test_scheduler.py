"""The retry scheduler over an in-memory outbox and SQS, timed by a stepped clock: it releases and
announces, keeps what it could not send for the next tick, and backs off while the outbound queue
is missing. The PostgreSQL side (SKIP LOCKED, the outbox sweep) is in tests/integration."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from bounced.db.views import ReleasedRetry
from bounced.service.scheduler import RetryScheduler
from tests.support.clock import SteppedClock, settle
from tests.support.memory_sqs import MemorySqs, sqs_error

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


class MemoryRetries:
    """The scheduler's view of the store: retries due at set times, an outbox of unannounced ones."""

    def __init__(self, due: Sequence[datetime]) -> None:
        self.pending = [
            ReleasedRetry(n, f"r{n}@example.org", f"m-{n}", "MailboxFull", 1, at, at, reactivated=True)
            for n, at in enumerate(due, start=1)
        ]
        self.released: dict[int, ReleasedRetry] = {}
        self.announced: set[int] = set()
        self.release_calls: list[datetime] = []

    async def release_due_retries(self, now: datetime, limit: int) -> list[ReleasedRetry]:
        self.release_calls.append(now)
        due = [r for r in self.pending if r.due_at <= now][:limit]
        for retry in due:
            self.pending.remove(retry)
            self.released[retry.id] = replace(retry, released_at=now)
        return [self.released[r.id] for r in due]

    async def unannounced_releases(
        self, limit: int, released_before: datetime | None = None
    ) -> list[ReleasedRetry]:
        waiting = [r for r in self.released.values() if r.id not in self.announced]
        if released_before is not None:
            waiting = [r for r in waiting if r.released_at < released_before]
        return waiting[:limit]

    async def mark_announced(self, ids: Sequence[int], now: datetime) -> None:
        self.announced.update(ids)


class Observed:
    def __init__(self) -> None:
        self.released_total = 0
        self.failures: list[str] = []

    def released(self, count: int) -> None:
        self.released_total += count

    def scheduler_ran(self) -> None:
        pass

    def failed(self, component: str) -> None:
        self.failures.append(component)


def scheduler(
    store: MemoryRetries, clock: SteppedClock, sqs: MemorySqs, url: str, observer: Observed
) -> RetryScheduler:
    return RetryScheduler(
        store=store, clock=clock, observer=observer, interval=1.0, sqs=sqs, outbound_url=url
    )


async def test_a_tick_releases_what_is_due_and_announces_it() -> None:
    clock = SteppedClock(T0)
    sqs = MemorySqs(clock)
    url = sqs.create_queue("retries")
    store = MemoryRetries([T0 - timedelta(minutes=1), T0 + timedelta(hours=1)])
    observer = Observed()
    assert await scheduler(store, clock, sqs, url, observer).tick() == 1
    assert [(d["retry_id"], d["address"], d["cause"]) for d in sqs.sent_documents(url)] == [
        (1, "r1@example.org", "MailboxFull")
    ]
    assert store.announced == {1}
    assert observer.released_total == 1


async def test_an_announcement_sqs_refused_waits_in_the_outbox_for_the_next_tick() -> None:
    clock = SteppedClock(T0)
    sqs = MemorySqs(clock)
    url = sqs.create_queue("retries")
    store = MemoryRetries([T0])
    ticker = scheduler(store, clock, sqs, url, Observed())
    sqs.fail_next("send_json", sqs_error("ServiceUnavailable", "SendMessageBatch", status=503))
    with pytest.raises(ClientError):
        await ticker.tick()
    assert (set(store.released), store.announced) == ({1}, set())  # released, not yet announced
    assert await ticker.tick() == 0  # nothing new is due; the held release goes out
    assert [d["retry_id"] for d in sqs.sent_documents(url)] == [1]
    assert store.announced == {1}


async def test_a_missing_outbound_queue_is_counted_and_tried_again_with_backoff() -> None:
    clock = SteppedClock(T0)
    sqs = MemorySqs(clock)
    url = sqs.create_queue("retries")
    sqs.delete_queue(url)
    store = MemoryRetries([T0])
    observer = Observed()
    stop = asyncio.Event()
    running = asyncio.create_task(scheduler(store, clock, sqs, url, observer).run(stop))
    await settle()
    for _ in range(8):  # eight seconds
        await clock.advance(1.0)
    # Ticks at 0, then after waits of 1, 2 and 4 s: the backoff doubles from the interval.
    assert [(t - T0).total_seconds() for t in store.release_calls] == [0, 1, 3, 7]
    assert observer.failures == ["scheduler"] * 4
    assert set(store.released) == {1}  # releasing never stopped; the announcement waits
    assert sqs.create_queue("retries") == url  # the queue is back
    await clock.advance(8.0)  # the next wait
    assert [d["retry_id"] for d in sqs.sent_documents(url)] == [1]
    assert store.announced == {1}
    stop.set()
    await settle()
    await running
