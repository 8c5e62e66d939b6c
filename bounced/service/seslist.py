"""The sender of the SES suppression-list outbox (`BOUNCED_SES_SUPPRESSION=push`).

The write that changes an address's state queues its call (put or delete) in the same transaction;
this task makes the calls in the order they were queued, one instance at a time (an advisory lock),
and forgets each once SES has answered it. A call SES throttles (429), fails (5xx) or cannot be
reached for stops the pass: it and everything after it wait, and the next pass comes after a backoff
(`bounced_errors_total{component="ses_suppression"}` counts those passes). So calls are made at
least once and never out of order: a suppression then an unsuppression never ends listed at SES.

A delete of an address SES does not list counts as done (`not_found`). A call SES refuses for the
address itself (400 BadRequestException) can never succeed: it is logged with its outbox and audit
ids, counted as `rejected` and dropped, so it does not hold up the calls behind it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

import structlog

from bounced.core.clock import Clock
from bounced.core.seslist import BOUNCE, OK, PUT, REJECTED, SesCall
from bounced.db.store import Store
from bounced.ingest.sesv2 import SuppressionList, result_of
from bounced.service.supervise import Backoff, is_peer_failure, run_every

log = structlog.get_logger("bounced.service.seslist")

COMPONENT = "ses_suppression"
BATCH = 100
MAX_BACKOFF_SECONDS = 60.0


class SesObserver(Protocol):
    """What the sender reports."""

    def ses_suppression_call(self, operation: str, result: str) -> None: ...

    def set_ses_suppression_pending(self, n: int) -> None: ...

    def failed(self, component: str) -> None: ...


class SuppressionSender:
    """Makes the calls queued in the outbox, in order, with backoff while SES fails."""

    def __init__(
        self,
        *,
        store: Store,
        ses: SuppressionList,
        clock: Clock,
        observer: SesObserver,
        interval: float,
    ) -> None:
        self._store = store
        self._ses = ses
        self._clock = clock
        self._observer = observer
        self._interval = interval
        self._failure: BaseException | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """A pass every interval until `stop` is set; after a failed one, the backoff."""
        await run_every(
            COMPONENT,
            self.send_pending,
            interval=self._interval,
            backoff=Backoff(first=self._interval, longest=max(self._interval, MAX_BACKOFF_SECONDS)),
            clock=self._clock,
            stop=stop,
            on_error=self._observer.failed,
        )

    async def send_pending(self) -> int:
        """Make every queued call, oldest first; returns how many were done. Raises SES's failure
        (after recording what was done before it) when a call must wait."""
        total = 0
        while True:
            self._failure = None
            done = await self._store.send_ses_calls(BATCH, self._send)
            total += done or 0
            if self._failure is not None or done is None or done < BATCH:
                break
        if total:
            log.info("ses_suppression_sent", count=total)
        self._observer.set_ses_suppression_pending(await self._store.ses_calls_pending())
        if self._failure is not None:
            raise self._failure
        return total

    async def _send(self, calls: Sequence[SesCall]) -> list[int]:
        """Make `calls` in order; the ids of those done. Stops at the first that must wait."""
        done: list[int] = []
        for call in calls:
            try:
                result = await self._call(call)
            except Exception as exc:
                if not is_peer_failure(exc):
                    raise
                result = result_of(exc)
                self._observer.ses_suppression_call(call.operation, result)
                if result != REJECTED:
                    self._failure = exc
                    return done
                log.warning(
                    "ses_suppression_rejected",
                    operation=call.operation,
                    outbox_id=call.id,
                    event_id=call.event_id,
                )
            else:
                self._observer.ses_suppression_call(call.operation, result)
            if call.id is not None:
                done.append(call.id)
        return done

    async def _call(self, call: SesCall) -> str:
        if call.operation == PUT:
            await self._ses.put(call.address, call.reason or BOUNCE)
            return OK
        return await self._ses.delete(call.address)
