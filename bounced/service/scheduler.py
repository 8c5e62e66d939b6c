"""The retry scheduler: release due transient retries and announce them.

Releasing happens in PostgreSQL (`FOR UPDATE SKIP LOCKED`, so any number of daemon instances release
each retry exactly once) and makes the address mailable again. Announcing is an outbox: a released
retry stays "unannounced" until its JSON message is on the outbound queue, so a crash between the
release and the send loses nothing (the send happens again; consumers can de-duplicate on `retry_id`).
A failed send (the queue deleted, access denied, SQS away) never stops releasing: the announcement
waits, and the scheduler tries again with backoff until the queue takes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from bounced.core.clock import Clock
from bounced.db.views import ReleasedRetry
from bounced.service.supervise import Backoff, run_every

log = structlog.get_logger("bounced.service.scheduler")

RELEASE_BATCH = 100
# How long a release may stay unannounced before another tick (of any instance) sends it.
RECOVERY_MARGIN = timedelta(minutes=2)
# A failing tick waits the interval, then twice that, and so on up to this.
MAX_BACKOFF_SECONDS = 60.0
# Releases one instance keeps in memory to announce again (the outbox in PostgreSQL holds them all).
HELD_MAX = 10_000


class RetryStore(Protocol):
    """What the scheduler needs of the store (bounced.db.store.Store implements it)."""

    async def release_due_retries(self, now: datetime, limit: int) -> list[ReleasedRetry]: ...

    async def unannounced_releases(
        self, limit: int, released_before: datetime | None = None
    ) -> list[ReleasedRetry]: ...

    async def mark_announced(self, ids: Sequence[int], now: datetime) -> None: ...


class Outbound(Protocol):
    """Where announcements go (bounced.ingest.sqs.SqsQueues implements it)."""

    async def send_json(
        self, queue_url: str, bodies: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> list[str]: ...


class SchedulerObserver(Protocol):
    """What the scheduler reports."""

    def released(self, count: int) -> None: ...

    def scheduler_ran(self) -> None: ...

    def failed(self, component: str) -> None: ...


def announcement(retry: ReleasedRetry) -> dict[str, Any]:
    """The outbound queue's JSON document for one released retry."""
    return {
        "retry_id": retry.id,
        "address": retry.address,
        "ses_message_id": retry.ses_message_id,
        "attempt": retry.attempt,
        "cause": retry.cause,
        "due_at": retry.due_at.isoformat(),
        "released_at": retry.released_at.isoformat() if retry.released_at else None,
    }


class RetryScheduler:
    """Periodically releases due retries and announces them on the outbound queue."""

    def __init__(
        self,
        *,
        store: RetryStore,
        clock: Clock,
        observer: SchedulerObserver,
        interval: float,
        sqs: Outbound | None = None,
        outbound_url: str | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._observer = observer
        self._interval = interval
        self._sqs = sqs
        self._outbound_url = outbound_url
        # Releases of this instance not yet announced (the send failed): tried again every tick,
        # before the recovery margin lets any instance sweep them.
        self._held: dict[int, ReleasedRetry] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every interval until `stop` is set. A tick that fails because PostgreSQL or the
        outbound queue failed is counted and tried again with backoff; what it released waits in
        the outbox until the queue takes it."""
        await run_every(
            "scheduler",
            self._tick_and_beat,
            interval=self._interval,
            backoff=Backoff(first=self._interval, longest=max(self._interval, MAX_BACKOFF_SECONDS)),
            clock=self._clock,
            stop=stop,
            on_error=self._observer.failed,
        )

    async def _tick_and_beat(self) -> None:
        try:
            await self.tick()
        finally:
            self._observer.scheduler_ran()

    async def tick(self) -> int:
        """Release everything due now; announce it and whatever this instance failed to announce
        before; then announce releases a crash left unannounced. Returns how many were released."""
        released = await self._release_due()
        await self._announce_held()
        await self.recover()
        return released

    async def _release_due(self) -> int:
        released = 0
        while True:
            batch = await self._store.release_due_retries(self._clock.now(), RELEASE_BATCH)
            released += len(batch)
            if batch:
                self._observer.released(len(batch))
                log.info("retries_released", count=len(batch), retry_ids=[r.id for r in batch])
                self._hold(batch)
            if len(batch) < RELEASE_BATCH:
                return released

    async def _announce_held(self) -> None:
        while self._held:
            chunk = list(self._held.values())[:RELEASE_BATCH]
            if await self._announce(chunk) < len(chunk):
                return  # the rest go next tick

    async def recover(self) -> None:
        """Announce releases still unannounced after RECOVERY_MARGIN: their instance died (or failed to
        send) between the release and the send. The margin keeps this sweep off releases another
        instance is announcing right now, so in normal operation each release is sent once."""
        released_before = self._clock.now() - RECOVERY_MARGIN
        while True:
            pending = await self._store.unannounced_releases(RELEASE_BATCH, released_before=released_before)
            if not pending:
                return
            log.info("retries_announce_recovered", count=len(pending))
            if await self._announce(pending) < len(pending):
                return  # the rest go next tick

    def _hold(self, retries: Sequence[ReleasedRetry]) -> None:
        # Bounded: past it, a release waits for the recovery sweep, which reads the outbox itself.
        room = max(HELD_MAX - len(self._held), 0)
        self._held.update((r.id, r) for r in retries[:room])

    async def _announce(self, retries: Sequence[ReleasedRetry]) -> int:
        self._hold(retries)
        sent = await self._send(retries)
        await self._store.mark_announced([r.id for r in sent], self._clock.now())
        for retry in sent:
            self._held.pop(retry.id, None)
        return len(sent)

    async def _send(self, retries: Sequence[ReleasedRetry]) -> list[ReleasedRetry]:
        if self._sqs is None or self._outbound_url is None:
            return list(retries)
        documents = [(str(r.id), announcement(r)) for r in retries]
        failed = set(await self._sqs.send_json(self._outbound_url, documents))
        if failed:
            self._observer.failed("scheduler")
            log.warning("announce_failed", retry_ids=sorted(failed))
        return [r for r in retries if str(r.id) not in failed]
