"""structlog set-up: JSON lines off a terminal, readable output on one; events with snake_case names.

Libraries that log through the standard `logging` module (asyncpg, aiohttp, botocore, asyncio) are
routed through the same renderer, so a log shipper sees one format. Log ids, never addresses or message
bodies, at INFO and above.

Warnings and errors are rate-limited per event name (`RateLimiter`): a fault that repeats thousands of
times a second (asyncio's "socket.accept() out of system resource" when file descriptors run out, a
flood of malformed requests) costs a few lines per interval, not gigabytes. The first line let through
after a suppressed run carries `suppressed=N`.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import structlog

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
# Libraries are quieter than bounced: their INFO is mostly per-request chatter.
LIBRARY_LEVEL = logging.WARNING
# At most this many warnings or errors of one name per interval.
LIMIT_BURST = 10
LIMIT_INTERVAL = 10.0
# Names are few (code-defined); a bound keeps odd library messages from growing the table for ever.
_MAX_NAMES = 1000
_LIMITED_LEVELS = frozenset({"warning", "error", "critical"})


@dataclass(slots=True)
class _Window:
    start: float
    admitted: int = 0
    suppressed: int = 0


class RateLimiter:
    """At most `burst` events of one name per `interval` seconds (fixed windows per name)."""

    def __init__(
        self,
        burst: int = LIMIT_BURST,
        interval: float = LIMIT_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.interval = interval
        self._monotonic = monotonic
        self._windows: dict[str, _Window] = {}

    def admit(self, name: str) -> int | None:
        """None when this event is to be dropped; otherwise how many of `name` were dropped since the
        last one admitted (usually 0)."""
        now = self._monotonic()
        window = self._windows.get(name)
        if window is None:
            self._forget_old(now)
            window = self._windows[name] = _Window(start=now)
        elif now - window.start >= self.interval:
            window.start, window.admitted = now, 0
        if window.admitted >= self.burst:
            window.suppressed += 1
            return None
        window.admitted += 1
        suppressed, window.suppressed = window.suppressed, 0
        return suppressed

    def _forget_old(self, now: float) -> None:
        if len(self._windows) < _MAX_NAMES:
            return
        quiet = [n for n, w in self._windows.items() if now - w.start >= self.interval and not w.suppressed]
        for name in quiet:
            del self._windows[name]
        if len(self._windows) >= _MAX_NAMES:
            self._windows.clear()


def limit_events(limiter: RateLimiter) -> Callable[[Any, str, MutableMapping[str, Any]], Any]:
    """A structlog processor (after `add_log_level`) that drops warnings and errors over the limit."""

    def process(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
        if event_dict.get("level") not in _LIMITED_LEVELS:
            return event_dict
        suppressed = limiter.admit(str(event_dict.get("event")))
        if suppressed is None:
            raise structlog.DropEvent
        if suppressed:
            event_dict["suppressed"] = suppressed
        return event_dict

    return process


class LimitRecords(logging.Filter):
    """The same limit for standard-library records, named by logger and the message's first line
    (asyncio puts the varying details, such as the socket, on the lines after it)."""

    def __init__(self, limiter: RateLimiter) -> None:
        super().__init__()
        self.limiter = limiter

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        first_line = str(record.msg).partition("\n")[0]
        suppressed = self.limiter.admit(f"{record.name}: {first_line}")
        if suppressed is None:
            return False
        if suppressed:
            record.suppressed = suppressed
        return True


def configure_logging(level: str = "info", fmt: str = "auto", limiter: RateLimiter | None = None) -> None:
    """Route structlog and the standard `logging` module to stderr at `level`, as JSON or console
    output (`auto` picks by whether stderr is a terminal), warnings and errors rate-limited."""
    as_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    limiter = limiter or RateLimiter()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, limit_events(limiter), structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    _route_standard_logging(shared, renderer, max(LEVELS[level], LIBRARY_LEVEL), limiter)


def _route_standard_logging(shared: list[Any], renderer: Any, level: int, limiter: RateLimiter) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(LimitRecords(limiter))
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                *shared,
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(allow=("suppressed",)),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
