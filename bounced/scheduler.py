"""The retry scheduler: release due transient retries and announce them.

Releasing happens in PostgreSQL (`FOR UPDATE SKIP LOCKED`, so any number of daemon instances release
each retry exactly once) and makes the address mailable again. Announcing is an outbox: a released
retry stays "unannounced" until its JSON message is on the outbound queue, so a crash between the
release and the send loses nothing (the send happens again; consumers can de-duplicate on `retry_id`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Protocol

import structlog

from bounced.aio import sleep_unless_stopped
from bounced.clock import Clock
from bounced.sqs import SqsQueues, is_transient
from bounced.store import Store, is_transient_error
from bounced.views import ReleasedRetry

log = structlog.get_logger("bounced.scheduler")

RELEASE_BATCH = 100
# How long a release may stay unannounced before another tick (of any instance) sends it.
RECOVERY_MARGIN = timedelta(minutes=2)


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
            await sleep_unless_stopped(self._clock, self._interval, stop)

    async def tick(self) -> int:
        """Release everything due now and announce it; then announce releases a crash left
        unannounced. Returns how many were released."""
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
        await self.recover()
        return released

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

    async def _announce(self, retries: Sequence[ReleasedRetry]) -> int:
        sent = await self._send(retries)
        await self._store.mark_announced([r.id for r in sent], self._clock.now())
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
