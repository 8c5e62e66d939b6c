"""The consumer end to end on real parts: SES JSON through SNS and SQS (moto over HTTP) to a real
PostgreSQL, wrapped and raw, with the pollers the daemon runs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from structlog.testing import capture_logs

from bounced.core import samples
from bounced.core.batch import CommitSummary
from bounced.core.clock import SystemClock
from bounced.core.model import Classified, Outcome, SnsEnvelope
from bounced.core.policy import DEFAULT_POLICY
from bounced.db.store import Store, is_transient_error
from bounced.ingest.consumer import STORE_REJECTED, BatchStore, DatabaseGate, Poller, PollSettings
from bounced.ingest.groupcommit import GroupCommitter
from bounced.ingest.provision import FeedbackWiring
from bounced.ingest.reader import RECEIVE_COUNT_EXCEEDED, MessageReader
from bounced.ingest.sqs import Message, SqsQueues
from tests.support.feedback import Aws, RecordingObserver, drain, unique_id
from tests.support.outcomes import delivery

pytestmark = pytest.mark.integration


async def status_of(store: Store, address: str) -> str | None:
    view = await store.recipient(address)
    return None if view is None else str(view.state.status)


async def assert_queues_empty(aws: Aws, wiring: FeedbackWiring) -> None:
    for url in wiring.queues.values():
        assert await aws.depth(url) == (0, 0)


async def test_every_action_end_to_end(aws: Aws, wiring: FeedbackWiring, store: Store) -> None:
    topics = wiring.topics
    await aws.publish(topics["bounce"], samples.bounce(["hard@example.org"], feedback_id=unique_id("fb")))
    await aws.publish(
        topics["bounce"],
        samples.bounce(
            ["full@example.org"],
            bounce_type="Transient",
            subtype="MailboxFull",
            status="4.2.2",
            diagnostic="smtp; 452 4.2.2 mailbox full",
            feedback_id=unique_id("fb"),
        ),
    )
    await aws.publish(
        topics["bounce"],
        samples.bounce(
            ["big@example.org"],
            bounce_type="Transient",
            subtype="MessageTooLarge",
            status="5.3.4",
            diagnostic="smtp; 552 5.3.4 message too big",
            feedback_id=unique_id("fb"),
            event=True,
        ),
    )
    await aws.publish(
        topics["complaint"], samples.complaint(["angry@example.org"], feedback_id=unique_id("fb"))
    )
    await aws.publish(
        topics["complaint"],
        samples.complaint(["fine@example.org"], feedback_type="not-spam", feedback_id=unique_id("fb")),
    )
    await aws.publish(topics["delivery"], samples.delivery(["ok@example.org"], message_id=unique_id("m")))

    observer = await drain(aws, wiring, store)

    assert await status_of(store, "hard@example.org") == "suppressed"
    assert await status_of(store, "full@example.org") == "deferred"
    assert await status_of(store, "big@example.org") == "review"
    assert await status_of(store, "angry@example.org") == "suppressed"
    assert await status_of(store, "ok@example.org") == "active"
    fine = await store.recipient("fine@example.org")
    assert fine is None or str(fine.state.status) == "active"  # ignored: no effect on the list
    assert observer.deleted_count == 6
    await assert_queues_empty(aws, wiring)


async def test_multi_recipient_message_decides_for_each(
    aws: Aws, wiring: FeedbackWiring, store: Store
) -> None:
    people = ["A@Example.org", "b@example.org", "Carol <c@example.org>"]
    await aws.publish(wiring.topics["bounce"], samples.bounce(people, feedback_id=unique_id("fb")))
    await drain(aws, wiring, store)
    for address in ("a@example.org", "b@example.org", "c@example.org"):
        assert await status_of(store, address) == "suppressed"


async def test_the_same_notification_three_times_counts_once(
    aws: Aws, wiring: FeedbackWiring, store: Store, store_dsn: str
) -> None:
    document = samples.bounce(
        ["thrice@example.org"],
        bounce_type="Transient",
        subtype="General",
        status="4.0.0",
        diagnostic="smtp; 421 try later",
        feedback_id=unique_id("fb"),
    )
    for _ in range(3):
        await aws.publish(wiring.topics["bounce"], document)
    observer = await drain(aws, wiring, store, pollers_per_queue=1)

    view = await store.recipient("thrice@example.org")
    assert view is not None
    assert view.state.soft_bounce_streak == 1
    assert len(view.events) == 1
    assert sum(s.new_events for s in observer.summaries) == 1
    assert sum(sum(s.retries_scheduled.values()) for s in observer.summaries) == 1
    conn = await asyncpg.connect(store_dsn)
    try:
        assert (
            await conn.fetchval("SELECT count(*) FROM retries WHERE address = $1", "thrice@example.org") == 1
        )
    finally:
        await conn.close()
    await assert_queues_empty(aws, wiring)


async def test_an_older_event_never_overrides_a_newer_one(
    aws: Aws, wiring: FeedbackWiring, store: Store
) -> None:
    newer_delivery = samples.delivery(
        ["late@example.org"], message_id=unique_id("m"), timestamp="2026-03-02T12:00:00.000Z"
    )
    older_bounce = samples.bounce(
        ["late@example.org"],
        bounce_type="Transient",
        subtype="General",
        status="4.0.0",
        diagnostic="smtp; 421 later",
        feedback_id=unique_id("fb"),
        timestamp="2026-03-02T09:00:00.000Z",
    )
    await aws.publish(wiring.topics["delivery"], newer_delivery)
    await drain(aws, wiring, store, queues=("delivery",))
    await aws.publish(wiring.topics["bounce"], older_bounce)
    await drain(aws, wiring, store, queues=("bounce",))

    view = await store.recipient("late@example.org")
    assert view is not None
    assert str(view.state.status) == "active"
    assert view.state.soft_bounce_streak == 0
    assert len(view.events) == 2  # both are in the audit log


async def test_a_poison_message_is_quarantined_with_its_bytes_and_deleted(
    aws: Aws, wiring: FeedbackWiring, store: Store
) -> None:
    poison = '{"notificationType": "Bounce", "bounce": {"bounceType": "Permanent"'
    await aws.send_body(wiring.queues["bounce"], poison)
    await aws.publish(
        wiring.topics["bounce"], samples.bounce(["good@example.org"], feedback_id=unique_id("fb"))
    )

    observer = await drain(aws, wiring, store, pollers_per_queue=1)

    quarantined = await store.quarantine_list()
    assert len(quarantined) == 1
    assert quarantined[0].queue == "bounce"
    assert await status_of(store, "good@example.org") == "suppressed"
    assert sum(sum(s.quarantined.values()) for s in observer.summaries) == 1
    await assert_queues_empty(aws, wiring)


async def test_a_message_received_too_often_is_quarantined(
    aws: Aws, wiring: FeedbackWiring, store: Store
) -> None:
    await aws.publish(wiring.topics["bounce"], samples.bounce(["x@example.org"], feedback_id=unique_id("fb")))
    # Receive it without deleting, twice, so its receive count passes a limit of 1.
    for _ in range(2):
        reply = await aws.sqs.receive_message(QueueUrl=wiring.queues["bounce"], VisibilityTimeout=0)
        assert reply["Messages"]
    observer = await drain(aws, wiring, store, pollers_per_queue=1, max_receive_count=1)
    (item,) = await store.quarantine_list()
    assert item.code == RECEIVE_COUNT_EXCEEDED
    assert observer.deleted_count == 1
    await assert_queues_empty(aws, wiring)


async def test_one_unreadable_recipient_does_not_block_eleven_good_ones(
    aws: Aws, wiring: FeedbackWiring, store: Store
) -> None:
    good = [f"good{index}@example.org" for index in range(11)]
    document = samples.bounce([*good[:5], '"john doe"@example.com', *good[5:]], feedback_id=unique_id("fb"))
    await aws.publish(wiring.topics["bounce"], document)

    with capture_logs() as logs:
        observer = await drain(aws, wiring, store, pollers_per_queue=1)

    for address in good:
        assert await status_of(store, address) == "suppressed"
    (item,) = await store.quarantine_list()
    assert (item.queue, item.code) == ("bounce", "unreadable_recipients")
    assert item.detail.startswith("1 of 12 recipients unreadable, not applied (the other 11 were): ")
    assert """'"john doe"@example.com'""" in item.detail
    held = await store.quarantined(item.id)
    assert held is not None
    assert json.loads(held.body)["Type"] == "Notification"  # the SQS body as received: the envelope
    assert b"john doe" in held.body
    assert sum(s.new_events for s in observer.summaries) == 11
    assert sum(s.quarantined.get(("bounce", "unreadable_recipients"), 0) for s in observer.summaries) == 1
    assert observer.deleted_count == 1
    assert "john doe" not in repr(logs)
    assert [e["reason"] for e in logs if e["event"] == "message_quarantined"] == ["unreadable_recipients"]
    await assert_queues_empty(aws, wiring)


class BuggyVerifier:
    """A signature check with a bug that only one message trips (any exception but a ReadError)."""

    async def verify(self, envelope: SnsEnvelope) -> None:
        if "poison@" in envelope.message:
            raise RuntimeError("a bug")


async def test_an_exception_reading_one_message_quarantines_it_and_the_batch_goes_on(
    aws: Aws, wiring: FeedbackWiring, store: Store
) -> None:
    people = ["first@example.org", "poison@example.org", "last@example.org"]
    for person in people:
        await aws.publish(wiring.topics["bounce"], samples.bounce([person], feedback_id=unique_id("fb")))
    batch: list[Message] = []
    while len(batch) < len(people):  # one batch holding all three
        batch += await SqsQueues(aws.sqs).receive(
            wiring.queues["bounce"], max_messages=10, wait_seconds=1, visibility_timeout=30
        )
    assert len(batch) == len(people)
    observer = RecordingObserver()
    gate = DatabaseGate(store.ping, SystemClock())
    reader = MessageReader(verifier=BuggyVerifier())
    with capture_logs() as logs:
        await _poller(wiring, aws, store, gate, observer, reader=reader).handle(batch)

    assert await status_of(store, "first@example.org") == "suppressed"
    assert await status_of(store, "last@example.org") == "suppressed"
    assert await store.recipient("poison@example.org") is None
    (item,) = await store.quarantine_list()
    assert (item.queue, item.code, item.detail) == ("bounce", "internal_error", "RuntimeError")
    held = await store.quarantined(item.id)
    assert held is not None
    assert b"poison@example.org" in held.body
    assert observer.deleted_count == 3
    assert observer.failures == []
    (logged,) = [e for e in logs if e["event"] == "message_quarantined"]
    assert (logged["log_level"], logged["reason"]) == ("error", "internal_error")
    assert "poison@" not in repr(logs)
    await assert_queues_empty(aws, wiring)


class SlowStore:
    """The real store, with commits that take `delay` seconds (a long batch)."""

    is_transient = staticmethod(Store.is_transient)

    def __init__(self, store: Store, delay: float) -> None:
        self._store = store
        self._delay = delay

    async def commit(self, outcomes: Sequence[Outcome], now: datetime) -> CommitSummary:
        await asyncio.sleep(self._delay)
        return await self._store.commit(outcomes, now)

    commit_alone = commit

    async def ping(self) -> None:
        await self._store.ping()


async def test_a_long_batch_keeps_its_messages_invisible(
    aws: Aws, wiring: FeedbackWiring, store: Store
) -> None:
    """Commit takes 4 s with a 2 s visibility timeout: the poller extends it, so a second consumer never
    sees the message, and the message is applied and deleted once."""
    await aws.publish(
        wiring.topics["bounce"], samples.bounce(["slow@example.org"], feedback_id=unique_id("fb"))
    )
    observer = RecordingObserver()
    gate = DatabaseGate(store.ping, SystemClock())
    settings = PollSettings(wait_seconds=1, visibility_timeout=2)
    poller = _poller(wiring, aws, SlowStore(store, 4.0), gate, observer, settings=settings)
    (message,) = await SqsQueues(aws.sqs).receive(
        wiring.queues["bounce"], max_messages=10, wait_seconds=2, visibility_timeout=2
    )
    handling = asyncio.create_task(poller.handle([message]))
    for _ in range(5):  # 5 s of another consumer polling: past the original 2 s timeout
        other = await aws.sqs.receive_message(QueueUrl=wiring.queues["bounce"], WaitTimeSeconds=1)
        assert other.get("Messages", []) == []
    await handling
    assert observer.deleted_count == 1
    assert await status_of(store, "slow@example.org") == "suppressed"
    await assert_queues_empty(aws, wiring)


async def test_cancelling_a_batch_releases_its_messages_at_once(
    aws: Aws, wiring: FeedbackWiring, store: Store
) -> None:
    await aws.publish(
        wiring.topics["bounce"], samples.bounce(["cut@example.org"], feedback_id=unique_id("fb"))
    )
    gate = DatabaseGate(store.ping, SystemClock())
    settings = PollSettings(wait_seconds=1, visibility_timeout=300)
    poller = _poller(wiring, aws, SlowStore(store, 60.0), gate, RecordingObserver(), settings=settings)
    (message,) = await SqsQueues(aws.sqs).receive(
        wiring.queues["bounce"], max_messages=10, wait_seconds=2, visibility_timeout=300
    )
    handling = asyncio.create_task(poller.handle([message]))
    await asyncio.sleep(0.5)
    handling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handling
    assert await aws.depth(wiring.queues["bounce"]) == (1, 0)  # visible again, not in 300 s
    assert await store.recipient("cut@example.org") is None  # nothing was committed


class FlakyStore:
    """The real store behind a connection that fails `failures` times first."""

    is_transient = staticmethod(Store.is_transient)

    def __init__(self, store: Store, failures: int) -> None:
        self._store = store
        self.failures = failures
        self.calls = 0

    async def commit(self, outcomes: Sequence[Outcome], now: datetime) -> CommitSummary:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionRefusedError("PostgreSQL is restarting")
        return await self._store.commit(outcomes, now)

    commit_alone = commit


def _poller(
    wiring: FeedbackWiring,
    aws: Aws,
    store: BatchStore,
    gate: DatabaseGate,
    observer: RecordingObserver,
    *,
    sqs: SqsQueues | None = None,
    settings: PollSettings | None = None,
    reader: MessageReader | None = None,
) -> Poller:
    """The bounce queue's first poller, over real SQS (or `sqs`) with a 30 s visibility timeout (or
    `settings`)."""
    return Poller(
        name="poller:bounce:0",
        queue="bounce",
        queue_url=wiring.queues["bounce"],
        sqs=sqs or SqsQueues(aws.sqs),
        reader=reader or MessageReader(verifier=None),
        store=store,
        gate=gate,
        observer=observer,
        clock=SystemClock(),
        settings=settings or PollSettings(wait_seconds=1, visibility_timeout=30),
    )


async def test_a_transient_commit_failure_is_tried_again(
    aws: Aws, wiring: FeedbackWiring, store: Store
) -> None:
    await aws.publish(
        wiring.topics["bounce"], samples.bounce(["flaky@example.org"], feedback_id=unique_id("fb"))
    )
    flaky = FlakyStore(store, failures=1)
    observer = RecordingObserver()
    gate = DatabaseGate(store.ping, SystemClock())
    await _poller(wiring, aws, flaky, gate, observer).run(asyncio.Event(), until_empty=True)
    assert flaky.calls == 2
    assert gate.is_open
    assert observer.deleted_count == 1
    assert await status_of(store, "flaky@example.org") == "suppressed"


async def test_a_database_that_stays_down_leaves_the_batch_and_closes_the_gate(
    aws: Aws, wiring: FeedbackWiring, store: Store
) -> None:
    await aws.publish(
        wiring.topics["bounce"], samples.bounce(["down@example.org"], feedback_id=unique_id("fb"))
    )
    down = FlakyStore(store, failures=1000)
    observer = RecordingObserver()

    async def unreachable() -> None:
        raise ConnectionRefusedError("still down")

    (message,) = await SqsQueues(aws.sqs).receive(
        wiring.queues["bounce"], max_messages=10, wait_seconds=2, visibility_timeout=30
    )
    async with DatabaseGate(unreachable, SystemClock()) as gate:
        await _poller(wiring, aws, down, gate, observer).handle([message])
        assert not gate.is_open  # pollers now wait instead of receiving
    assert down.calls == PollSettings().attempts
    assert observer.deleted_count == 0
    assert observer.failures.count("store") == 1
    assert await aws.depth(wiring.queues["bounce"]) == (0, 1)  # still held, comes back after its timeout


# One message per receive, so two messages make two batches.
ONE_AT_A_TIME = PollSettings(batch_size=1, wait_seconds=1, visibility_timeout=30)


class SlowDeleteQueues(SqsQueues):
    """Real SQS (moto over HTTP) whose deletes take `delay` seconds; records when each call ran."""

    def __init__(self, client: Any, delay: float) -> None:
        super().__init__(client)
        self._delay = delay
        self.calls: list[tuple[str, float, float]] = []  # (call, started, ended)

    async def receive(
        self, queue_url: str, *, max_messages: int, wait_seconds: int, visibility_timeout: int
    ) -> list[Message]:
        started = asyncio.get_running_loop().time()
        got = await super().receive(
            queue_url,
            max_messages=max_messages,
            wait_seconds=wait_seconds,
            visibility_timeout=visibility_timeout,
        )
        self.calls.append(("receive", started, asyncio.get_running_loop().time()))
        return got

    async def delete(self, queue_url: str, messages: Sequence[Message]) -> list[str]:
        started = asyncio.get_running_loop().time()
        await asyncio.sleep(self._delay)
        failed = await super().delete(queue_url, messages)
        self.calls.append(("delete", started, asyncio.get_running_loop().time()))
        return failed


async def test_the_next_receive_does_not_wait_for_the_last_delete(
    aws: Aws, wiring: FeedbackWiring, store: Store
) -> None:
    """A committed batch's delete runs while the poller receives the next batch (its effects are
    already durable), and a poller never ends with a delete still in flight."""
    for index in range(2):
        await aws.publish(
            wiring.topics["bounce"],
            samples.bounce([f"overlap{index}@example.org"], feedback_id=unique_id("fb")),
        )
    queues = SlowDeleteQueues(aws.sqs, delay=1.0)
    observer = RecordingObserver()
    gate = DatabaseGate(store.ping, SystemClock())
    poller = _poller(wiring, aws, store, gate, observer, sqs=queues, settings=ONE_AT_A_TIME)
    await poller.run(asyncio.Event(), until_empty=True)
    deletes = [(start, end) for call, start, end in queues.calls if call == "delete"]
    receives = [start for call, start, _ in queues.calls if call == "receive"]
    assert len(deletes) == 2
    _, first_delete_end = deletes[0]
    assert receives[1] < first_delete_end
    assert observer.deleted_count == 2  # the last delete finished before run() returned
    await assert_queues_empty(aws, wiring)


async def test_the_next_batch_is_received_while_one_commits(
    aws: Aws, wiring: FeedbackWiring, store: Store
) -> None:
    """A poller's cycle is the longer of a receive and a commit, not their sum: with commits of 1 s,
    the second batch is received before the first has committed, and both end applied and deleted."""
    for index in range(2):
        await aws.publish(
            wiring.topics["bounce"],
            samples.bounce([f"ahead{index}@example.org"], feedback_id=unique_id("fb")),
        )
    queues = SlowDeleteQueues(aws.sqs, delay=0.0)
    observer = RecordingObserver()
    gate = DatabaseGate(store.ping, SystemClock())
    poller = _poller(wiring, aws, SlowStore(store, 1.0), gate, observer, sqs=queues, settings=ONE_AT_A_TIME)
    await poller.run(asyncio.Event(), until_empty=True)
    receives = [(start, end) for call, start, end in queues.calls if call == "receive"]
    first_delete_start = min(start for call, start, _ in queues.calls if call == "delete")
    assert len(receives) >= 2
    assert receives[1][1] < first_delete_start  # the second batch was in hand before the first was done
    assert observer.deleted_count == 2
    for index in range(2):
        assert await status_of(store, f"ahead{index}@example.org") == "suppressed"
    await assert_queues_empty(aws, wiring)


class NulPayloadStore:
    """The real store, handed a NUL in the payload of any message about `address`: a value
    PostgreSQL really refuses (text cannot hold NUL), for a reason that will not pass."""

    def __init__(self, store: Store, address: str) -> None:
        self._store = store
        self._address = address

    async def commit(self, outcomes: Sequence[Outcome], now: datetime) -> CommitSummary:
        return await self._store.commit([self._spoil(o) for o in outcomes], now)

    def _spoil(self, outcome: Outcome) -> Outcome:
        if not isinstance(outcome, Classified) or all(
            r.address != self._address for r in outcome.notification.recipients
        ):
            return outcome
        payload = f"{outcome.notification.payload}\x00"
        return replace(outcome, notification=replace(outcome.notification, payload=payload))


async def test_a_message_the_store_refuses_is_counted_as_quarantined(
    aws: Aws, wiring: FeedbackWiring, store: Store
) -> None:
    for address in ("refused@example.org", "fine@example.org"):
        await aws.publish(wiring.topics["bounce"], samples.bounce([address], feedback_id=unique_id("fb")))
    messages: list[Message] = []
    while len(messages) < 2:
        messages += await SqsQueues(aws.sqs).receive(
            wiring.queues["bounce"], max_messages=10, wait_seconds=2, visibility_timeout=30
        )
    committer = GroupCommitter(NulPayloadStore(store, "refused@example.org"), is_transient=is_transient_error)
    observer = RecordingObserver()
    with capture_logs() as logs:
        async with committer:
            poller = _poller(wiring, aws, committer, DatabaseGate(store.ping, SystemClock()), observer)
            await poller.handle(messages)
    (quarantined,) = await store.quarantine_list()
    assert quarantined.code == STORE_REJECTED
    (committed,) = [e for e in logs if e["event"] == "batch_committed"]
    assert (committed["applied"], committed["quarantined"]) == (1, 1)
    assert quarantined.sqs_message_id not in committed["sqs_message_ids"]
    assert len(committed["ses_message_ids"]) == 1
    warned = [e for e in logs if e["event"] == "message_quarantined"]
    assert [(e["sqs_message_id"], e["reason"]) for e in warned] == [
        (quarantined.sqs_message_id, STORE_REJECTED)
    ]
    assert sum(sum(s.quarantined.values()) for s in observer.summaries) == 1
    assert await status_of(store, "fine@example.org") == "suppressed"
    assert observer.deleted_count == 2
    await assert_queues_empty(aws, wiring)


async def test_a_refused_message_in_a_group_quarantines_only_itself(
    aws: Aws, wiring: FeedbackWiring, store: Store
) -> None:
    """Two pollers' batches committed in one group, one message PostgreSQL refuses: each poller
    commits its own batch message by message, alone; only the refused message is quarantined."""
    addresses = ("refused@example.org", "beside@example.org", "other@example.org")
    for address in addresses:
        await aws.publish(wiring.topics["bounce"], samples.bounce([address], feedback_id=unique_id("fb")))
    messages: list[Message] = []
    while len(messages) < 3:
        messages += await SqsQueues(aws.sqs).receive(
            wiring.queues["bounce"], max_messages=10, wait_seconds=2, visibility_timeout=30
        )
    first = [m for m in messages if b"other@" not in m.body]
    second = [m for m in messages if b"other@" in m.body]
    committer = GroupCommitter(NulPayloadStore(store, "refused@example.org"), is_transient=is_transient_error)
    observer = RecordingObserver()
    gate = DatabaseGate(store.ping, SystemClock())
    one, two = (_poller(wiring, aws, committer, gate, observer) for _ in range(2))
    await asyncio.gather(one.handle(first), two.handle(second))
    (quarantined,) = await store.quarantine_list()
    assert quarantined.code == STORE_REJECTED
    assert b"refused@" in next(m.body for m in messages if m.message_id == quarantined.sqs_message_id)
    for address in addresses[1:]:
        assert await status_of(store, address) == "suppressed"
    assert await store.recipient("refused@example.org") is None
    assert observer.deleted_count == 3
    await assert_queues_empty(aws, wiring)


class ContendedStore(Store):
    """The real store, whose reads are each followed, before the write planned from them, by
    another writer changing the same addresses' rows, `conflicts` times in all."""

    def __init__(self, store: Store, dsn: str, conflicts: int) -> None:
        super().__init__(store._pool, DEFAULT_POLICY, lambda: 0.0)
        self._dsn = dsn
        self.left = conflicts

    async def _read_states(self, conn: Any, addresses: Sequence[str]) -> dict[str, Any]:
        states = await super()._read_states(conn, addresses)
        if self.left > 0 and addresses:
            self.left -= 1
            other = await asyncpg.connect(self._dsn)
            try:
                await other.execute(
                    "UPDATE recipients SET updated_at = updated_at WHERE address = ANY($1::text[])",
                    list(addresses),
                )
            finally:
                await other.close()
        return states


async def test_contention_never_quarantines_a_valid_message(
    aws: Aws, wiring: FeedbackWiring, store: Store, store_dsn: str
) -> None:
    """Thirty write conflicts in a row on the batch's addresses: every message is applied and
    deleted, none quarantined."""
    addresses = [f"busy{i}@example.org" for i in range(3)]
    long_ago = datetime(2001, 1, 1, tzinfo=UTC)
    await store.commit([delivery(addresses, long_ago)], long_ago)  # rows to contend for
    for address in addresses:
        await aws.publish(wiring.topics["bounce"], samples.bounce([address], feedback_id=unique_id("fb")))
    contended = ContendedStore(store, store_dsn, conflicts=30)
    observer = RecordingObserver()
    with capture_logs() as logs:
        await drain(aws, wiring, contended, observer=observer, queues=("bounce",))
    assert contended.left == 0
    for address in addresses:
        assert await status_of(store, address) == "suppressed"
    assert await store.quarantine_list() == []
    assert not [e for e in logs if e["event"] in {"message_quarantined", "commit_rejected"}]
    assert observer.deleted_count == 3
    await assert_queues_empty(aws, wiring)
