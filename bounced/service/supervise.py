"""Background tasks that outlive their peers: a round that fails because SQS or PostgreSQL failed is
logged, counted in `bounced_errors_total{component=<task>}` and tried again with backoff; the task
goes on and the daemon keeps consuming. Anything else is a bug and stops the daemon loudly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import structlog

from bounced.core.aio import sleep_unless_stopped
from bounced.core.clock import Clock
from bounced.ingest.sqs import SQS_FAILURES, describe_failure

log = structlog.get_logger("bounced.service.supervise")

_PEER_ERRORS: tuple[type[BaseException], ...] = (
    *SQS_FAILURES,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)


def is_peer_failure(exc: BaseException) -> bool:
    """Whether `exc` is SQS's or PostgreSQL's failure (theirs to fix, ours to wait out) rather than
    a bug of ours."""
    return isinstance(exc, _PEER_ERRORS)


def backoff_delay(failures: int, first: float, longest: float) -> float:
    """Seconds to wait after `failures` consecutive failures (1-based): `first`, doubled for each
    further failure, at most `longest`."""
    if failures < 1:
        raise ValueError(f"failures is 1-based, got {failures}")
    return min(first * 2.0 ** min(failures - 1, 32), longest)


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long a failing task waits: from `first` seconds, doubling, up to `longest`."""

    first: float
    longest: float

    def delay(self, failures: int) -> float:
        """The wait after `failures` consecutive failures."""
        return backoff_delay(failures, self.first, self.longest)


async def run_every(
    name: str,
    step: Callable[[], Awaitable[object]],
    *,
    interval: float,
    backoff: Backoff,
    clock: Clock,
    stop: asyncio.Event,
    on_error: Callable[[str], None],
) -> None:
    """Await `step()` every `interval` seconds until `stop` is set. A step that fails for a peer's
    reason is logged and counted (`on_error(name)`), and the next one comes after the backoff."""
    failures = 0
    while not stop.is_set():
        try:
            await step()
        except Exception as exc:
            if not is_peer_failure(exc):
                raise
            failures += 1
            wait = backoff.delay(failures)
            on_error(name)
            log.warning(
                "task_round_failed", task=name, error=describe_failure(exc), failures=failures, retry_in=wait
            )
        else:
            if failures:
                log.info("task_recovered", task=name, failures=failures)
            failures, wait = 0, interval
        await sleep_unless_stopped(clock, wait, stop)
