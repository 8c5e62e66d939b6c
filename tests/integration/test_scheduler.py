"""The retry scheduler on real parts: releases in PostgreSQL, announcements on a moto SQS queue."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from bounced.cli import main
from bounced.db.store import Store
from bounced.ingest.sqs import SqsQueues
from bounced.service.scheduler import RECOVERY_MARGIN, RetryScheduler
from tests.support.clock import ManualClock
from tests.support.feedback import Aws
from tests.support.outcomes import soft_bounce

pytestmark = pytest.mark.integration

BOUNCED_AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


class Counting:
    def __init__(self) -> None:
        self.released_total = 0
        self.failures: list[str] = []

    def released(self, count: int) -> None:
        self.released_total += count

    def scheduler_ran(self) -> None:
        pass

    def failed(self, component: str) -> None:
        self.failures.append(component)


async def outbound_messages(aws: Aws, url: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    while True:
        reply = await aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        batch = reply.get("Messages", [])
        if not batch:
            return found
        found.extend(json.loads(m["Body"]) for m in batch)


def scheduler(store: Store, clock: ManualClock, aws: Aws, url: str, observer: Counting) -> RetryScheduler:
    return RetryScheduler(
        store=store, clock=clock, observer=observer, interval=1.0, sqs=SqsQueues(aws.sqs), outbound_url=url
    )


async def test_two_schedulers_announce_each_release_exactly_once(aws: Aws, store: Store) -> None:
    url = (await aws.sqs.create_queue(QueueName="retries"))["QueueUrl"]
    addresses = [f"soft{n}@example.org" for n in range(25)]
    await store.commit([soft_bounce(addresses, BOUNCED_AT)], BOUNCED_AT)
    clock = ManualClock(BOUNCED_AT + timedelta(hours=2))  # past General's first window (1h + jitter)
    one, two = Counting(), Counting()
    await asyncio.gather(
        scheduler(store, clock, aws, url, one).tick(), scheduler(store, clock, aws, url, two).tick()
    )
    assert one.released_total + two.released_total == 25
    messages = await outbound_messages(aws, url)
    assert sorted(str(m["address"]) for m in messages) == sorted(addresses)
    assert {m["attempt"] for m in messages} == {1}
    assert {m["cause"] for m in messages} == {"General"}
    for address in addresses:
        view = await store.recipient(address)
        assert view is not None
        assert str(view.state.status) == "active"


async def test_nothing_is_released_before_it_is_due(aws: Aws, store: Store) -> None:
    url = (await aws.sqs.create_queue(QueueName="retries"))["QueueUrl"]
    await store.commit([soft_bounce(["early@example.org"], BOUNCED_AT)], BOUNCED_AT)
    clock = ManualClock(BOUNCED_AT + timedelta(minutes=59))
    assert await scheduler(store, clock, aws, url, Counting()).tick() == 0
    assert await outbound_messages(aws, url) == []


async def test_a_release_left_unannounced_by_a_crash_is_sent_after_the_margin(aws: Aws, store: Store) -> None:
    url = (await aws.sqs.create_queue(QueueName="retries"))["QueueUrl"]
    await store.commit([soft_bounce(["crash@example.org"], BOUNCED_AT)], BOUNCED_AT)
    due = BOUNCED_AT + timedelta(hours=2)
    (released,) = await store.release_due_retries(due, 10)  # an instance released, then died
    clock = ManualClock(due)
    tick = scheduler(store, clock, aws, url, Counting())
    await tick.tick()
    assert await outbound_messages(aws, url) == []  # another instance may still be sending it
    clock.advance(RECOVERY_MARGIN + timedelta(seconds=1))
    await tick.tick()
    (message,) = await outbound_messages(aws, url)
    assert message["retry_id"] == released.id
    await tick.tick()
    assert await outbound_messages(aws, url) == []  # announced once


async def test_without_an_outbound_queue_releases_are_still_marked_announced(store: Store) -> None:
    await store.commit([soft_bounce(["quiet@example.org"], BOUNCED_AT)], BOUNCED_AT)
    clock = ManualClock(BOUNCED_AT + timedelta(hours=2))
    observer = Counting()
    quiet = RetryScheduler(store=store, clock=clock, observer=observer, interval=1.0)
    assert await quiet.tick() == 1
    assert await store.unannounced_releases(10) == []


async def test_status_contract_deferred_with_retry_at_then_active_once_released(
    store: Store, store_dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOUNCED_DATABASE_URL", store_dsn)
    await store.commit([soft_bounce(["later@example.org"], BOUNCED_AT, subtype="MailboxFull")], BOUNCED_AT)

    shown = await _status(capsys, "later@example.org")
    assert shown["status"] == "deferred"
    retry_at = datetime.fromisoformat(str(shown["retry_at"]))
    assert timedelta(days=1) <= retry_at - BOUNCED_AT <= timedelta(days=1.1)  # MailboxFull window 1 + jitter

    clock = ManualClock(retry_at + timedelta(seconds=1))
    assert await RetryScheduler(store=store, clock=clock, observer=Counting(), interval=1.0).tick() == 1
    shown = await _status(capsys, "later@example.org")
    assert shown["status"] == "active"
    assert shown["retry_at"] is None


async def _status(capsys: pytest.CaptureFixture[str], address: str) -> dict[str, object]:
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["status", address, "--json"])  # the CLI runs its own loop
    assert code == 0
    shown: dict[str, object] = json.loads(capsys.readouterr().out)
    return shown


async def test_a_deleted_outbound_queue_stops_no_release_and_the_announcement_follows_its_return(
    aws: Aws, store: Store
) -> None:
    url = (await aws.sqs.create_queue(QueueName="retries-gone"))["QueueUrl"]
    await aws.sqs.delete_queue(QueueUrl=url)
    await store.commit([soft_bounce(["first@example.org"], BOUNCED_AT)], BOUNCED_AT)
    clock = ManualClock(BOUNCED_AT + timedelta(hours=2))
    observer = Counting()
    ticking = scheduler(store, clock, aws, url, observer)
    with pytest.raises(ClientError):
        await ticking.tick()
    assert observer.released_total == 1  # released (mailable again) though not announced
    await store.commit([soft_bounce(["second@example.org"], BOUNCED_AT)], BOUNCED_AT)
    with pytest.raises(ClientError):
        await ticking.tick()
    assert observer.released_total == 2
    assert len(await store.unannounced_releases(10)) == 2  # waiting in the outbox
    await aws.sqs.create_queue(QueueName="retries-gone")
    await ticking.tick()  # well before the recovery margin: this instance still holds them
    messages = await outbound_messages(aws, url)
    assert sorted(str(m["address"]) for m in messages) == ["first@example.org", "second@example.org"]
    assert await store.unannounced_releases(10) == []
    await ticking.tick()
    assert await outbound_messages(aws, url) == []  # announced once


async def test_the_running_scheduler_counts_a_missing_queue_and_keeps_going(aws: Aws, store: Store) -> None:
    url = (await aws.sqs.create_queue(QueueName="retries-later"))["QueueUrl"]
    await aws.sqs.delete_queue(QueueUrl=url)
    await store.commit([soft_bounce(["later@example.org"], BOUNCED_AT)], BOUNCED_AT)
    clock = ManualClock(BOUNCED_AT + timedelta(hours=2))
    observer = Counting()
    stop = asyncio.Event()
    running = asyncio.create_task(scheduler(store, clock, aws, url, observer).run(stop))
    try:
        while len(observer.failures) < 3:
            assert not running.done(), running
            await asyncio.sleep(0.01)
        await aws.sqs.create_queue(QueueName="retries-later")
        while await store.unannounced_releases(10) != []:
            assert not running.done(), running
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=10)
    assert set(observer.failures) == {"scheduler"}
    (message,) = await outbound_messages(aws, url)
    assert message["address"] == "later@example.org"
