"""Retention: raw payloads are kept `BOUNCED_RETENTION_DAYS`, then pruned in small batches.

What goes: the raw SES JSON of notifications (the `notifications.payload` column, kept once per
notification; the row, its audit rows and every other field stay, so `bounced status` still shows
the history) and quarantined messages (raw bytes and all) older than the window. What never goes:
the recipients rows, which carry the reason an address is suppressed. Each batch is one short
statement in its own transaction that skips rows a committing batch holds, so pruning never holds
long locks or blocks the consumers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from bounced.core.clock import Clock
from bounced.db.store import Store
from bounced.service.supervise import Backoff, run_every

log = structlog.get_logger("bounced.service.retention")

_Step = Callable[[datetime, int], Awaitable[int]]

BATCH = 1000
INTERVAL_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class Pruned:
    """How much one prune removed."""

    payloads: int = 0
    quarantined: int = 0

    @property
    def total(self) -> int:
        """Rows pruned in all."""
        return self.payloads + self.quarantined


def cutoff(now: datetime, days: int) -> datetime:
    """The moment before which raw payloads go."""
    return now - timedelta(days=days)


async def prune(
    store: Store, now: datetime, days: int, batch: int = BATCH, stop: asyncio.Event | None = None
) -> Pruned:
    """Prune everything older than `days` before `now`, `batch` rows per statement; when `stop` is
    set, return after the batch in progress (the next prune carries on)."""
    before = cutoff(now, days)
    halt = stop or asyncio.Event()
    payloads = await _drain(store.prune_payloads, before, batch, halt)
    quarantined = await _drain(store.prune_quarantine, before, batch, halt)
    return Pruned(payloads, quarantined)


async def _drain(step: _Step, before: datetime, batch: int, stop: asyncio.Event) -> int:
    total = 0
    while not stop.is_set():
        count = await step(before, batch)
        total += count
        if count < batch:
            break
        await asyncio.sleep(0)  # let the consumers' work in between batches
    return total


async def run(
    store: Store,
    clock: Clock,
    days: int,
    stop: asyncio.Event,
    *,
    interval: float = INTERVAL_SECONDS,
    batch: int = BATCH,
    backoff: Backoff | None = None,
    on_error: Callable[[str], None] = lambda _component: None,
) -> None:
    """Prune now and then every `interval` seconds until `stop` is set (a daemon task). A prune that
    fails because PostgreSQL did is counted (`on_error("retention")`) and tried again after the
    backoff (default: the interval)."""

    async def once() -> None:
        pruned = await prune(store, clock.now(), days, batch, stop)
        if pruned.total:
            log.info("retention_pruned", payloads=pruned.payloads, quarantined=pruned.quarantined)

    await run_every(
        "retention",
        once,
        interval=interval,
        backoff=backoff or Backoff(first=interval, longest=interval),
        clock=clock,
        stop=stop,
        on_error=on_error,
    )
