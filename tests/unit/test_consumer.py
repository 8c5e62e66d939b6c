"""The poll loop over an in-memory SQS and a fake store, timed by a stepped clock: the order of a
batch (receive, commit, then delete), what a failure leaves on the queue, the two batches in hand,
and what a stop does to the receive in flight. Milliseconds each; the moto-backed tests in
tests/integration/test_consumer.py run the same loop over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from bounced.core import samples
from bounced.core.batch import CommitSummary
from bounced.core.model import Outcome
from bounced.ingest.consumer import DatabaseGate, Poller, PollSettings, Reader
from bounced.ingest.reader import MessageReader
from bounced.ingest.sqs import Message
from tests.support.clock import SteppedClock, settle
from tests.support.feedback import RecordingObserver
from tests.support.memory_sqs import MemorySqs, sqs_error

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


class MemoryStore:
    """Commits into a list, logging "commit" into the SQS call log so that order shows; may fail or
    hold commits until released."""

    def __init__(self, log: list[str]) -> None:
        self._log = log
        self.committed: list[Outcome] = []
        self.failures: list[BaseException] = []
        self.open = asyncio.Event()
        self.open.set()

    async def commit(self, outcomes: Sequence[Outcome], now: datetime) -> CommitSummary:
        await self.open.wait()
        self._log.append("commit")
        if self.failures:
            raise self.failures.pop(0)
        self.committed.extend(outcomes)
        return CommitSummary()

    async def commit_alone(self, outcomes: Sequence[Outcome], now: datetime) -> CommitSummary:
        """No group here: committing alone is committing."""
        return await self.commit(outcomes, now)

    def is_transient(self, exc: BaseException) -> bool:
        return isinstance(exc, ConnectionError)


@dataclass
class Rig:
    clock: SteppedClock
    sqs: MemorySqs
    url: str
    store: MemoryStore
    gate: DatabaseGate
    observer: RecordingObserver

    def poller(self, settings: PollSettings, reader: Reader | None = None) -> Poller:
        return Poller(
            name="poller:bounce:0",
            queue="bounce",
            queue_url=self.url,
            sqs=self.sqs,
            reader=reader or MessageReader(verifier=None, clock=self.clock),
            store=self.store,
            gate=self.gate,
            observer=self.observer,
            clock=self.clock,
            settings=settings,
        )

    def send(self, count: int, tag: str = "r") -> None:
        for n in range(count):
            doc = samples.bounce([f"{tag}{n}@example.org"], feedback_id=f"fb-{tag}-{n}")
            self.sqs.send(self.url, samples.dumps(doc))

    async def receive(self) -> list[Message]:
        return await self.sqs.receive(self.url, max_messages=10, wait_seconds=0, visibility_timeout=60)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    clock = SteppedClock(T0)
    sqs = MemorySqs(clock)
    url = sqs.create_queue("bounce")

    async def ping() -> None:
        raise ConnectionRefusedError("PostgreSQL is away")

    async with DatabaseGate(ping, clock) as gate:
        yield Rig(clock, sqs, url, MemoryStore(sqs.calls), gate, RecordingObserver())


NO_WAIT = PollSettings(batch_size=10, wait_seconds=0, visibility_timeout=60)
ONE_AT_A_TIME = PollSettings(batch_size=1, wait_seconds=0, visibility_timeout=60)


async def advance_until_done(clock: SteppedClock, task: asyncio.Task[None], step: float = 1.0) -> None:
    for _ in range(100):
        if task.done():
            return
        await clock.advance(step)
    raise AssertionError("still running after 100 steps")


async def test_a_batch_is_committed_then_deleted(rig: Rig) -> None:
    rig.send(3)
    await rig.poller(NO_WAIT).run(asyncio.Event(), until_empty=True)
    work = [call for call in rig.sqs.calls if call in ("commit", "delete")]
    assert work == ["commit", "delete"]
    assert len(rig.store.committed) == 3
    assert rig.sqs.visible(rig.url) == rig.sqs.in_flight(rig.url) == 0
    assert rig.observer.deleted_count == 3


async def test_a_commit_that_keeps_failing_leaves_the_messages_and_closes_the_gate(rig: Rig) -> None:
    rig.send(2)
    messages = await rig.receive()
    rig.store.failures = [ConnectionRefusedError("down")] * NO_WAIT.attempts
    handling = asyncio.create_task(rig.poller(NO_WAIT).handle(messages))
    await advance_until_done(rig.clock, handling, step=0.5)
    await handling
    assert rig.store.committed == []
    assert "delete" not in rig.sqs.calls
    assert rig.sqs.in_flight(rig.url) == 2  # back after their visibility timeout
    assert not rig.gate.is_open
    assert rig.observer.failures == ["store"]


async def test_a_cancelled_batch_releases_its_messages_at_once(rig: Rig) -> None:
    rig.send(2)
    messages = await rig.receive()
    rig.store.open.clear()  # the commit hangs
    handling = asyncio.create_task(rig.poller(NO_WAIT).handle(messages))
    await settle()
    handling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handling
    assert rig.sqs.visible(rig.url) == 2
    assert rig.store.committed == []


async def test_a_delete_sqs_keeps_refusing_is_counted_and_the_effects_stay(rig: Rig) -> None:
    rig.send(1)
    messages = await rig.receive()
    unavailable = sqs_error("ServiceUnavailable", "DeleteMessageBatch", status=503)
    rig.sqs.fail_next("delete", *[unavailable] * NO_WAIT.attempts)
    handling = asyncio.create_task(rig.poller(NO_WAIT).handle(messages))
    await advance_until_done(rig.clock, handling, step=0.5)
    await handling
    assert len(rig.store.committed) == 1
    assert rig.sqs.calls.count("delete") == NO_WAIT.attempts
    assert rig.observer.failures == ["sqs"]
    assert rig.observer.deleted_count == 0
    assert rig.sqs.in_flight(rig.url) == 1  # comes back; redelivery changes nothing


@pytest.mark.parametrize("code", ["AccessDenied", "AWS.SimpleQueueService.NonExistentQueue"])
async def test_a_delete_sqs_refuses_for_good_is_counted_and_does_not_stop_the_poller(
    rig: Rig, code: str
) -> None:
    """The effects are committed: a delete refused for good (the queue deleted under us, a policy
    changed) leaves the messages to come back, which changes nothing; it is SQS's fault, not a bug."""
    rig.send(1)
    messages = await rig.receive()
    rig.sqs.fail_next("delete", sqs_error(code, "DeleteMessageBatch"))
    await rig.poller(NO_WAIT).handle(messages)
    assert len(rig.store.committed) == 1
    assert rig.sqs.calls.count("delete") == 1  # not transient: not tried again now
    assert rig.observer.failures == ["sqs"]
    assert rig.observer.deleted_count == 0


async def test_a_stale_receipt_handle_is_reported_per_message(rig: Rig) -> None:
    rig.send(1)
    (stale,) = await rig.receive()
    await rig.clock.advance(61)  # its visibility timeout passes; another consumer takes it
    assert len(await rig.receive()) == 1
    await rig.poller(NO_WAIT).handle([stale])
    assert rig.observer.failures == ["sqs"]
    assert rig.observer.deleted_count == 0


async def test_a_poller_holds_at_most_two_batches(rig: Rig) -> None:
    rig.send(4)
    rig.store.open.clear()  # commits wait: batches pile up in hand
    polling = asyncio.create_task(rig.poller(ONE_AT_A_TIME).run(asyncio.Event(), until_empty=True))
    await settle()
    assert rig.sqs.calls.count("receive") == 2  # the third waits for the oldest batch
    assert rig.sqs.in_flight(rig.url) == 2
    rig.store.open.set()
    await polling
    assert len(rig.store.committed) == 4
    assert rig.sqs.visible(rig.url) == rig.sqs.in_flight(rig.url) == 0


class BuggyReader:
    """The real reader, except that reading a message for bug0@ fails the way a bug does."""

    def __init__(self, clock: SteppedClock) -> None:
        self._reader = MessageReader(verifier=None, clock=clock)

    async def read(self, queue: str, message: Message) -> Outcome | None:
        if b"bug0@" in message.body:
            raise ZeroDivisionError("a bug")
        return await self._reader.read(queue, message)


async def test_a_batch_that_fails_of_a_bug_ends_the_poller_and_releases_the_other(rig: Rig) -> None:
    rig.send(1, tag="bug")
    rig.send(1, tag="fine")
    rig.store.open.clear()  # the second batch waits in its commit when the first fails
    poller = rig.poller(ONE_AT_A_TIME, reader=BuggyReader(rig.clock))
    with pytest.raises(ExceptionGroup) as raised:
        await poller.run(asyncio.Event())
    assert raised.value.subgroup(ZeroDivisionError) is not None
    assert rig.store.committed == []
    assert rig.sqs.visible(rig.url) == 1  # the batch cancelled beside it was released


async def test_at_the_stop_the_receive_in_flight_finishes_and_what_it_brings_is_released(rig: Rig) -> None:
    settings = PollSettings(wait_seconds=20, visibility_timeout=120)
    stop = asyncio.Event()
    polling = asyncio.create_task(rig.poller(settings).run(stop))
    await settle()
    assert rig.sqs.waiting_polls(rig.url) == 1  # in its long poll, nothing there yet
    stop.set()
    await settle()
    assert not polling.done()  # not cancelled: SQS would hand this poll's messages to no one
    rig.send(3)  # SQS hands them to the open poll
    await polling
    assert rig.store.committed == []  # not processed
    assert rig.sqs.visible(rig.url) == 3  # released at once, not invisible for 120 s
    assert rig.sqs.calls.count("receive") == 1


async def test_a_poll_abandoned_at_the_stop_would_hide_the_messages_it_is_handed(rig: Rig) -> None:
    """The in-memory SQS models why the poller must not cancel its last receive."""
    receiving = asyncio.create_task(
        rig.sqs.receive(rig.url, max_messages=10, wait_seconds=20, visibility_timeout=120)
    )
    await settle()
    receiving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await receiving
    rig.send(2)  # one by one: the first goes to the abandoned poll, which then closes
    assert (rig.sqs.in_flight(rig.url), rig.sqs.visible(rig.url)) == (1, 1)  # lost for 120 s
    await rig.clock.advance(120)
    assert rig.sqs.visible(rig.url) == 2


async def test_a_receive_failing_at_the_stop_does_not_wait_out_its_backoff(rig: Rig) -> None:
    settings = PollSettings(wait_seconds=0, visibility_timeout=600, attempts=1)
    rig.sqs.fail_next("receive", sqs_error("AccessDenied", "ReceiveMessage", status=403))
    stop = asyncio.Event()
    polling = asyncio.create_task(rig.poller(settings).run(stop))
    await settle()
    assert rig.observer.failures == ["sqs"]  # waiting 60 s before the next try
    stop.set()
    await settle()
    assert polling.done()
    await polling
