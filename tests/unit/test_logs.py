"""Logging: structlog events and standard-library records come out as the same JSON lines."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from bounced.logs import configure_logging


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
