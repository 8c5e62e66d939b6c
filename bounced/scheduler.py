"""The retry scheduler: release due transient retries and announce them.

Releasing happens in PostgreSQL (`FOR UPDATE SKIP LOCKED`, so any number of daemon instances release
each retry exactly once) and makes the address mailable again. Announcing is an outbox: a released
retry stays "unannounced" until its JSON message is on the outbound queue, so a crash between the
release and the send loses nothing (the send happens again; consumers can de-duplicate on `retry_id`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from bounced.clock import Clock
from bounced.sqs import SqsQueues, is_transient
from bounced.store import Store, is_transient_error
from bounced.views import ReleasedRetry

log = structlog.get_logger("bounced.scheduler")

# Postgres channel on which the store NOTIFYs every release (see bounced/sql/queries.sql).
RELEASE_BATCH = 100
# The instance that releases a retry announces it in the same tick. The outbox sweep leaves a release
# this long to its own instance, and only then sends it (after a crash or a failed send): sweeping
# fresh releases too made every instance announce the others' releases a second and third time.
OUTBOX_GRACE = timedelta(seconds=60)


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
        store: Store,
        clock: Clock,
        observer: SchedulerObserver,
        interval: float,
        sqs: SqsQueues | None = None,
        outbound_url: str | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._observer = observer
        self._interval = interval
        self._sqs = sqs
        self._outbound_url = outbound_url

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every interval until `stop` is set."""
        while not stop.is_set():
            try:
                await self.tick()
            except Exception as exc:
                if not (is_transient_error(exc) or is_transient(exc)):
                    raise
                self._observer.failed("scheduler")
                log.warning("scheduler_tick_failed", error=type(exc).__name__)
            self._observer.scheduler_ran()
            sleeper = asyncio.ensure_future(self._clock.sleep(self._interval))
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
            sleeper.cancel()
            stopper.cancel()

    async def tick(self) -> int:
        """Release everything due now, announce what is unannounced; return how many were released."""
        released = 0
        while True:
            batch = await self._store.release_due_retries(self._clock.now(), RELEASE_BATCH)
            released += len(batch)
            if batch:
                self._observer.released(len(batch))
                log.info("retries_released", count=len(batch), retry_ids=[r.id for r in batch])
                await self._announce(batch)
            if len(batch) < RELEASE_BATCH:
                break
        await self.announce(released_before=self._clock.now() - OUTBOX_GRACE)
        return released

    async def announce(self, released_before: datetime | None = None) -> None:
        """Sweep the outbox: send the unannounced releases made at or before `released_before` (any,
        when None) to the outbound queue, or just mark them when there is none (the NOTIFY and the
        state change are then the only announcement). Two instances sweeping the same old release
        at once may both send it: consumers de-duplicate on `retry_id`."""
        while True:
            pending = await self._store.unannounced_releases(RELEASE_BATCH, released_before)
            if not pending:
                return
            sent = await self._announce(pending)
            if len(sent) < len(pending):
                return  # the rest go next tick

    async def _announce(self, retries: Sequence[ReleasedRetry]) -> list[ReleasedRetry]:
        sent = await self._send(retries)
        await self._store.mark_announced([r.id for r in sent], self._clock.now())
        return sent

    async def _send(self, retries: Sequence[ReleasedRetry]) -> list[ReleasedRetry]:
        if self._sqs is None or self._outbound_url is None:
            return list(retries)
        documents = [(str(r.id), announcement(r)) for r in retries]
        failed = set(await self._sqs.send_json(self._outbound_url, documents))
        if failed:
            self._observer.failed("scheduler")
            log.warning("announce_failed", retry_ids=sorted(failed))
        return [r for r in retries if str(r.id) not in failed]
