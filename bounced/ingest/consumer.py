"""The SQS consumer: long-poll a queue, read each batch, commit its effects, then delete it.

One `Poller` holds at most two batches at a time, so in-flight work is bounded by the number of
pollers (pollers x 20 messages) and a slow or absent PostgreSQL stops pollers from taking new messages
instead of letting work pile up in memory. The two overlap: while one batch is read, committed and
deleted, the poller receives the next and starts on it, then waits for the first to finish before it
receives again. So a poller's cycle is the longer of a receive and a commit, not their sum. The
batches in hand are tasks of the poller's own TaskGroup: none outlives it, and one that fails takes
the poller (and so the daemon) down with it.

The order of a batch never changes: read every message, commit all outcomes in one transaction, and
only then DeleteMessageBatch. A crash or a failed commit at any point leaves the messages on the queue;
they come back after their visibility timeout and, the store being idempotent, change nothing twice.

At the stop a poller lets its receive in flight finish (it returns within the long poll's wait) rather
than cancel it: SQS may still hand messages to an abandoned request, and they would stay invisible for
the visibility timeout. What that last receive brings is released at once, unprocessed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self, TypeVar

import structlog
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from bounced.core.aio import TaskScope, sleep_unless_stopped, unless_stopped
from bounced.core.batch import CommitSummary
from bounced.core.clock import Clock
from bounced.core.model import Classified, Outcome, Quarantined
from bounced.ingest.reader import INTERNAL_ERROR
from bounced.ingest.sqs import Message, describe_failure, is_sqs_failure, is_transient

log = structlog.get_logger("bounced.ingest.consumer")

_T = TypeVar("_T")
# A committed batch: the store's summary and the outcomes as committed.
_Committed = tuple[CommitSummary, Sequence[Outcome]]
STORE_REJECTED = "store_rejected"
# Batches one poller holds at once: while the oldest is read, committed and deleted, it receives
# and starts on the next.
BATCHES_IN_HAND = 2
FIRST_RETRY_WAIT = 0.2  # seconds; later waits double up to 2 s
# How long releasing messages may take when a batch is cancelled at the shutdown deadline.
RELEASE_TIMEOUT = 5.0


class Queues(Protocol):
    """What a poller needs of SQS (bounced.ingest.sqs.SqsQueues implements it)."""

    async def receive(
        self, queue_url: str, *, max_messages: int, wait_seconds: int, visibility_timeout: int
    ) -> list[Message]: ...

    async def delete(self, queue_url: str, messages: Sequence[Message]) -> list[str]: ...

    async def change_visibility(self, queue_url: str, messages: Sequence[Message], seconds: int) -> None: ...


class Reader(Protocol):
    """Reads one message into its outcome (bounced.ingest.reader.MessageReader implements it)."""

    async def read(self, queue: str, message: Message) -> Outcome | None: ...


class BatchStore(Protocol):
    """What the consumer needs of the store."""

    async def commit(self, outcomes: Sequence[Outcome], now: datetime) -> CommitSummary:
        """Commit a batch (perhaps together with other pollers' batches)."""
        ...

    async def commit_alone(self, outcomes: Sequence[Outcome], now: datetime) -> CommitSummary:
        """Commit a batch in a transaction of its own: a refusal is then its own."""
        ...

    def is_transient(self, exc: BaseException) -> bool:
        """Whether a commit that raised `exc` may succeed if tried again (the database is away)."""
        ...


class BatchObserver(Protocol):
    """What the consumer reports (the metrics and the health heartbeats implement it)."""

    def polled(self, poller: str, queue: str, received: int) -> None: ...

    def committed(self, queue: str, summary: CommitSummary, seconds: float, now: datetime) -> None: ...

    def deleted(self, queue: str, count: int) -> None: ...

    def failed(self, component: str) -> None: ...


@dataclass(frozen=True, slots=True)
class PollSettings:
    """How a poller talks to its queue."""

    batch_size: int = 10
    wait_seconds: int = 20
    visibility_timeout: int = 60
    # Transient failures are tried this many times (with backoff) before the batch is abandoned.
    attempts: int = 3


class DatabaseGate:
    """Open while PostgreSQL answers. A poller that fails to commit for a transient reason closes it;
    pollers then wait here, without receiving, until a probe gets through again. Use it as
    `async with`: the probe is its own task, which leaving stops."""

    def __init__(self, ping: Callable[[], Awaitable[None]], clock: Clock, max_backoff: float = 5.0) -> None:
        self._ping = ping
        self._clock = clock
        self._max_backoff = max_backoff
        self._open = asyncio.Event()
        self._open.set()
        self._tasks = TaskScope("DatabaseGate")

    async def __aenter__(self) -> Self:
        await self._tasks.__aenter__()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop probing (at shutdown)."""
        await self._tasks.__aexit__(kind, exc, tb)

    @property
    def is_open(self) -> bool:
        """Whether PostgreSQL answered last time anyone asked."""
        return self._open.is_set()

    def close(self) -> None:
        """Mark PostgreSQL unreachable and start probing it."""
        if not self._open.is_set():
            return
        self._open.clear()
        log.warning("database_unavailable")
        self._tasks.start(self._probe_until_open(), name="database-probe")

    async def wait_open(self) -> bool:
        """Return (True) once PostgreSQL answers."""
        return await self._open.wait()

    async def _probe_until_open(self) -> None:
        backoff = 0.2
        while True:
            try:
                await self._ping()
            except Exception as exc:
                log.debug("database_probe_failed", error=type(exc).__name__)
                await self._clock.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            log.info("database_available")
            self._open.set()
            return


class Poller:
    """One long-poll loop on one queue."""

    def __init__(
        self,
        *,
        name: str,
        queue: str,
        queue_url: str,
        sqs: Queues,
        reader: Reader,
        store: BatchStore,
        gate: DatabaseGate,
        observer: BatchObserver,
        clock: Clock,
        settings: PollSettings,
    ) -> None:
        self.name = name
        self.queue = queue
        self._url = queue_url
        self._sqs = sqs
        self._reader = reader
        self._store = store
        self._gate = gate
        self._observer = observer
        self._clock = clock
        self._settings = settings
        self._log = log.bind(queue=queue, poller=name)

    async def run(self, stop: asyncio.Event, *, until_empty: bool = False) -> None:
        """Poll until `stop` is set (or, with `until_empty`, until a long poll comes back empty).
        Returns once the batches in hand are done. If a batch fails (an ExceptionGroup carries its
        error) or the poller is cancelled (the shutdown deadline), the batches in hand are cancelled,
        which releases their messages."""
        async with asyncio.TaskGroup() as batches:
            await self._poll(stop, until_empty, batches)

    async def _poll(self, stop: asyncio.Event, until_empty: bool, batches: asyncio.TaskGroup) -> None:
        in_hand: deque[asyncio.Task[None]] = deque()
        while not stop.is_set():
            if not self._gate.is_open and not await unless_stopped(self._gate.wait_open(), stop):
                return
            messages = await self._receive(stop)
            if stop.is_set():
                await self._release(messages, event="released_at_stop")
                return
            self._observer.polled(self.name, self.queue, len(messages))
            if messages:
                in_hand.append(batches.create_task(self.handle(messages), name=f"{self.name}-batch"))
            if len(in_hand) >= BATCHES_IN_HAND or (in_hand and not messages):
                # The oldest batch; should it fail, the TaskGroup cancels this loop and raises.
                await asyncio.wait([in_hand.popleft()])
            if not messages and until_empty:
                self._log.info("queue_drained")
                return

    async def _receive(self, stop: asyncio.Event) -> list[Message]:
        """One long poll, let finish even when `stop` is set meanwhile; no new try after the stop."""
        try:
            return await self._retrying(lambda: self._receive_unless_stopped(stop), is_transient)
        except Exception as exc:
            # A queue deleted or forbidden under us is SQS's fault, not ours: wait it out (unready)
            # rather than take the daemon down with it.
            if not is_sqs_failure(exc):
                raise
            self._observer.failed("sqs")
            self._log.warning("receive_failed", error=describe_failure(exc))
            await sleep_unless_stopped(self._clock, self._settings.visibility_timeout / 10, stop)
            return []

    async def _receive_unless_stopped(self, stop: asyncio.Event) -> list[Message]:
        if stop.is_set():
            return []
        return await self._sqs.receive(
            self._url,
            max_messages=self._settings.batch_size,
            wait_seconds=self._settings.wait_seconds,
            visibility_timeout=self._settings.visibility_timeout,
        )

    async def handle(self, messages: Sequence[Message]) -> None:
        """Read, commit and delete one received batch. Cancellation (the shutdown deadline) releases
        the batch's messages at once so another consumer can take them."""
        try:
            async with self._keep_invisible(messages):
                done = await self._read_and_commit(messages)
        except asyncio.CancelledError:
            await asyncio.shield(self._release(messages))
            raise
        if done:
            await self._delete(done)

    async def _read_and_commit(self, messages: Sequence[Message]) -> list[Message]:
        started = time.perf_counter()
        read: list[tuple[Message, Outcome]] = []
        for message in messages:
            outcome = await self._reader.read(self.queue, message)
            if outcome is not None:
                read.append((message, outcome))
        if not read:
            return []
        committed = await self._commit(read)
        if committed is None:
            return []
        summary, outcomes = committed
        self._observer.committed(self.queue, summary, time.perf_counter() - started, self._clock.now())
        self._log_batch(outcomes)
        return [message for message, _ in read]

    async def _commit(self, read: Sequence[tuple[Message, Outcome]]) -> _Committed | None:
        """Commit the batch: its summary and the outcomes as committed (a message the store refused
        became a quarantine record). None when PostgreSQL is unreachable (the batch comes back).

        The poller owns two of the commit's failures: PostgreSQL away (tried again with backoff,
        then the gate closes) and a refusal (the batch split message by message). Write conflicts
        never get here: the store resolves them itself."""
        outcomes = [outcome for _, outcome in read]
        try:
            summary = await self._retrying(
                lambda: self._store.commit(outcomes, self._clock.now()), self._store.is_transient
            )
        except Exception as exc:
            self._observer.failed("store")
            if self._store.is_transient(exc):
                self._log.warning("commit_failed", error=type(exc).__name__, messages=len(outcomes))
                self._gate.close()
                return None
            self._log.exception("commit_rejected", messages=len(outcomes))
            return await self._commit_one_by_one(read)
        return summary, outcomes

    async def _commit_one_by_one(self, read: Sequence[tuple[Message, Outcome]]) -> _Committed | None:
        """A batch PostgreSQL refused for a reason that will not pass (a value it cannot store), or
        a group it was part of: commit each message alone, and quarantine the ones refused again,
        so that one bad message neither blocks nor drags down the rest."""
        merged = CommitSummary()
        committed: list[Outcome] = []
        for message, outcome in read:
            done = outcome
            try:
                summary = await self._store.commit_alone([done], self._clock.now())
            except Exception as exc:
                if self._store.is_transient(exc):
                    self._gate.close()
                    return None
                done = _store_rejected(self.queue, message, exc)
                summary = await self._store.commit_alone([done], self._clock.now())
            merged = merged.merge(summary)
            committed.append(done)
        return merged, committed

    async def _delete(self, messages: Sequence[Message]) -> None:
        try:
            failed = await self._retrying(lambda: self._sqs.delete(self._url, messages), is_transient)
        except Exception as exc:
            if not is_sqs_failure(exc):  # SQS's refusal, for now or for good, is not our bug
                raise
            self._log.warning("delete_refused", error=describe_failure(exc))
            failed = [m.message_id for m in messages]
        if failed:
            # The effects are committed; redelivery of these changes nothing.
            self._observer.failed("sqs")
            self._log.warning("delete_failed", sqs_message_ids=failed)
        self._observer.deleted(self.queue, len(messages) - len(failed))

    async def _release(self, messages: Sequence[Message], *, event: str = "batch_released") -> None:
        """Make messages visible again at once (logged as `event`), so another consumer takes them."""
        if not messages:
            return
        try:
            async with asyncio.timeout(RELEASE_TIMEOUT):
                await self._sqs.change_visibility(self._url, messages, 0)
            self._log.info(event, messages=len(messages), sqs_message_ids=[m.message_id for m in messages])
        except Exception as exc:
            self._log.warning("release_failed", error=type(exc).__name__)

    @asynccontextmanager
    async def _keep_invisible(self, messages: Sequence[Message]) -> AsyncIterator[None]:
        """Extend the batch's visibility timeout while it works, so no other consumer takes it."""
        task = asyncio.create_task(self._extend_visibility(messages), name=f"{self.name}-visibility")
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def _extend_visibility(self, messages: Sequence[Message]) -> None:
        timeout = self._settings.visibility_timeout
        while True:
            await self._clock.sleep(timeout / 2)
            try:
                await self._sqs.change_visibility(self._url, messages, timeout)
                self._log.debug("visibility_extended", messages=len(messages))
            except Exception as exc:
                self._observer.failed("sqs")
                self._log.warning("visibility_extension_failed", error=type(exc).__name__)

    async def _retrying(
        self, call: Callable[[], Awaitable[_T]], transient: Callable[[BaseException], bool]
    ) -> _T:
        """Await `call()`, calling again with backoff while it fails for a transient reason."""
        try:
            # The first try runs bare: tenacity's bookkeeping is only paid once something failed.
            return await call()
        except Exception as exc:
            if not transient(exc) or self._settings.attempts <= 1:
                raise
        await self._clock.sleep(FIRST_RETRY_WAIT)
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self._settings.attempts - 1),
            wait=wait_exponential(multiplier=0.2, max=2.0),
            retry=retry_if_exception(transient),
            sleep=self._clock.sleep,
            reraise=True,
        ):
            with attempt:
                return await call()
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    def _log_batch(self, outcomes: Sequence[Outcome]) -> None:
        """One event per committed batch with its SQS and SES ids (never addresses or bodies)."""
        applied = [o for o in outcomes if isinstance(o, Classified)]
        held = [o.quarantine for o in applied if o.quarantine is not None]
        for item in [*outcomes, *held]:
            if isinstance(item, Quarantined):
                # internal_error is bounced's own bug, not bad input: an error, for the alerts.
                level = logging.ERROR if item.code == INTERNAL_ERROR else logging.WARNING
                self._log.log(
                    level, "message_quarantined", sqs_message_id=item.sqs_message_id, reason=item.code
                )
        self._log.info(
            "batch_committed",
            applied=len(applied),
            quarantined=len(outcomes) - len(applied) + len(held),
            sqs_message_ids=[o.sqs_message_id for o in applied],
            ses_message_ids=[o.notification.ses_message_id for o in applied],
        )


def _store_rejected(queue: str, message: Message, exc: Exception) -> Quarantined:
    return Quarantined(
        queue=queue,
        sqs_message_id=message.message_id,
        body=message.body,
        code=STORE_REJECTED,
        detail=f"{type(exc).__name__}: {exc}"[:500],
        receive_count=message.receive_count,
    )
