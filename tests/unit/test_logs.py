"""Logging: structlog events and standard-library records come out as the same JSON lines."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from bounced.service.logs import RateLimiter, configure_logging


def test_library_records_are_json_lines_too(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    try:
        structlog.get_logger("bounced.test").info("batch_committed", applied=3)
        logging.getLogger("asyncpg.pool").warning("Failed to restore the pool connection floor")
        logging.getLogger("aiohttp.access").info("GET /v1/recipients/someone@example.org")  # below WARNING
    finally:
        logging.getLogger().handlers = []
        structlog.reset_defaults()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["event"] for line in lines] == [
        "batch_committed",
        "Failed to restore the pool connection floor",
    ]
    assert lines[1]["logger"] == "asyncpg.pool"
    assert lines[1]["level"] == "warning"


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limiter_admits_a_burst_per_name_then_reports_what_it_dropped() -> None:
    clock = FakeMonotonic()
    limiter = RateLimiter(burst=3, interval=10.0, monotonic=clock)
    assert [limiter.admit("accept_failed") for _ in range(5)] == [0, 0, 0, None, None]
    assert limiter.admit("other_event") == 0  # each name has its own budget
    clock.now += 9.9
    assert limiter.admit("accept_failed") is None
    clock.now += 0.1
    assert limiter.admit("accept_failed") == 3  # a new window: the first one tells how many were dropped
    assert limiter.admit("accept_failed") == 0


@pytest.fixture
def logging_reset() -> Iterator[None]:
    yield
    logging.getLogger().handlers = []
    structlog.reset_defaults()


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.usefixtures("logging_reset")
def test_repeated_warnings_are_limited_with_a_suppressed_count(capsys: pytest.CaptureFixture[str]) -> None:
    clock = FakeMonotonic()
    configure_logging("info", "json", RateLimiter(burst=2, interval=10.0, monotonic=clock))
    log = structlog.get_logger("bounced.test")
    for _ in range(1000):
        log.warning("http_bad_request", status=400)
        log.info("batch_committed", applied=1)  # below WARNING: never limited
    clock.now += 10
    log.error("http_bad_request", status=400)
    lines = json_lines(capsys.readouterr().err)
    limited = [line for line in lines if line["event"] == "http_bad_request"]
    assert len(limited) == 3
    assert "suppressed" not in limited[0]
    assert limited[2]["suppressed"] == 998
    assert sum(line["event"] == "batch_committed" for line in lines) == 1000


@pytest.mark.usefixtures("logging_reset")
def test_library_errors_are_limited_by_their_first_line(capsys: pytest.CaptureFixture[str]) -> None:
    clock = FakeMonotonic()
    configure_logging("info", "json", RateLimiter(burst=2, interval=10.0, monotonic=clock))
    asyncio_log = logging.getLogger("asyncio")
    for fd in range(500):  # what asyncio logs when accept() hits the open-file limit
        asyncio_log.error(
            "socket.accept() out of system resource\nexception: [Errno 24] Too many open files\n"
            "socket: <socket.socket fd=%d>",
            fd,
        )
    logging.getLogger("aiohttp.server").error("Error handling request from %s", "127.0.0.1")
    clock.now += 10
    asyncio_log.error("socket.accept() out of system resource\nsocket: <socket.socket fd=7>")
    lines = json_lines(capsys.readouterr().err)
    assert [line["logger"] for line in lines] == ["asyncio", "asyncio", "aiohttp.server", "asyncio"]
    assert lines[-1]["suppressed"] == 498
    assert "suppressed" not in lines[0]
