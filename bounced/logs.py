"""structlog set-up: JSON lines off a terminal, readable output on one; events with snake_case names.

Libraries that log through the standard `logging` module (asyncpg, aiohttp, botocore) are routed
through the same renderer, so a log shipper sees one format. Log ids, never addresses or message
bodies, at INFO and above.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
# Libraries are quieter than bounced: their INFO is mostly per-request chatter.
LIBRARY_LEVEL = logging.WARNING


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    """Route structlog and the standard `logging` module to stderr at `level`, as JSON or console
    output (`auto` picks by whether stderr is a terminal)."""
    as_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    _route_standard_logging(shared, renderer, max(LEVELS[level], LIBRARY_LEVEL))


def _route_standard_logging(shared: list[Any], renderer: Any, level: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
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
