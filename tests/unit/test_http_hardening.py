"""The HTTP endpoint against hostile clients, over raw sockets to a real server on 127.0.0.1: malformed
requests get a 400 and leave no address and no traceback in the logs, slow clients are cut off, and
connections beyond the cap are closed at once."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import structlog

from bounced.service.http import HttpServer, serve
from bounced.service.logs import LIMIT_BURST, configure_logging
from tests.unit.test_http import TOKEN, Setup

ADDRESS = b"alice.secret@example.org"
SHORT = 0.3  # header timeout in these tests: long enough for a loaded machine to send a request


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """capsys, for the daemon's real logging set-up (`log_to`)."""
    yield capsys
    logging.getLogger().handlers = []
    structlog.reset_defaults()


def log_to(capture: pytest.CaptureFixture[str]) -> None:
    """structlog and standard-library records as JSON on the captured stderr (capsys swaps the stream
    between set-up and test, so this runs in the test)."""
    assert capture.readouterr().err == ""
    configure_logging("info", "json")


async def start(token: str | None = None, **options: Any) -> HttpServer:
    return await serve(Setup().app(api_token=token), "127.0.0.1", 0, **options)


@pytest.fixture
async def server() -> AsyncIterator[HttpServer]:
    running = await start(TOKEN)
    yield running
    await running.stop()


async def exchange(port: int, raw: bytes, *, within: float = 5.0) -> bytes:
    """Send raw bytes, return everything the server answers until it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        async with asyncio.timeout(within):
            return await reader.read()
    finally:
        writer.close()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def log_lines(capture: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capture.readouterr().err.splitlines()]


MALFORMED = {
    "bad version": b"GET /v1/recipients/" + ADDRESS + b" HTTP/9.9\r\nHost: x\r\n\r\n",
    "NUL in path": b"GET /v1/recipients/" + ADDRESS + b"\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    "long URL": b"GET /v1/recipients/" + ADDRESS + b"?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad method": b"G\x01T /v1/recipients/" + ADDRESS + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "NUL in header": b"GET /v1/recipients/" + ADDRESS + b" HTTP/1.1\r\nHost: x\r\nX-A: b\x00\r\n\r\n",
    "bad header": b"GET /v1/recipients/" + ADDRESS + b" HTTP/1.1\r\nHost: x\r\n" + ADDRESS + b"\r\n\r\n",
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_request_is_400_with_no_address_or_traceback_logged(
    server: HttpServer, json_logs: pytest.CaptureFixture[str], raw: bytes
) -> None:
    log_to(json_logs)
    answer = await exchange(server.port, raw)
    assert status_of(answer) == 400
    lines = log_lines(json_logs)
    assert [line["event"] for line in lines] == ["http_bad_request"]
    assert lines[0]["status"] == 400
    text = json.dumps(lines)
    assert "alice" not in text
    assert "Traceback" not in text
    assert "exception" not in lines[0]


async def test_a_burst_of_malformed_requests_is_logged_a_few_times(
    server: HttpServer, json_logs: pytest.CaptureFixture[str]
) -> None:
    log_to(json_logs)
    for _ in range(3 * LIMIT_BURST):
        assert status_of(await exchange(server.port, MALFORMED["bad version"])) == 400
    lines = log_lines(json_logs)
    assert [line["event"] for line in lines] == ["http_bad_request"] * LIMIT_BURST


@pytest.mark.parametrize("value", [b"Bearer \xe9t\xe9", "Bearer été".encode(), b"\xff\xfe", b"Bearer \x80"])
async def test_non_ascii_authorization_is_401(
    server: HttpServer, json_logs: pytest.CaptureFixture[str], value: bytes
) -> None:
    log_to(json_logs)
    raw = b"GET /v1/recipients/" + ADDRESS + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    answer = await exchange(server.port, raw + b"Authorization: " + value + b"\r\n\r\n")
    assert status_of(answer) == 401
    assert log_lines(json_logs) == []


async def test_the_right_token_still_passes(server: HttpServer) -> None:
    raw = b"GET /v1/recipients/" + ADDRESS + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    answer = await exchange(server.port, raw + b"Authorization: Bearer " + TOKEN.encode() + b"\r\n\r\n")
    assert status_of(answer) == 200


async def test_served_send_gate_requests_leave_no_access_log_line(
    server: HttpServer, json_logs: pytest.CaptureFixture[str]
) -> None:
    log_to(json_logs)
    head = b"GET /v1/recipients/" + ADDRESS + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    for auth in (b"", b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"):
        await exchange(server.port, head + auth + b"\r\n")
    assert "alice" not in json_logs.readouterr().err


async def test_partial_headers_are_cut_off_after_the_header_timeout() -> None:
    server = await start(header_timeout=SHORT)
    try:
        loop = asyncio.get_running_loop()
        began = loop.time()
        answer = await exchange(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        assert answer == b""  # closed without a word
        assert SHORT <= loop.time() - began < 5
    finally:
        await server.stop()


async def test_a_complete_request_is_answered_within_the_header_timeout() -> None:
    server = await start(header_timeout=SHORT)
    try:
        answer = await exchange(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status_of(answer) == 200
    finally:
        await server.stop()


HEALTH = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


async def hold_partial(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    await writer.drain()
    return reader, writer


async def test_connections_beyond_the_cap_are_closed_at_once(json_logs: pytest.CaptureFixture[str]) -> None:
    log_to(json_logs)
    server = await start(max_connections=3, header_timeout=30)
    held = [await hold_partial(server.port) for _ in range(3)]
    try:
        for _ in range(20):
            assert await exchange(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n") == b""
        _, writer = held.pop()
        writer.close()
        await writer.wait_closed()
        # The slot comes back once the server has seen the close: a round trip or a few later.
        for _ in range(100):
            if answer := await exchange(server.port, HEALTH):
                break
        assert status_of(answer) == 200
        assert all(not reader.at_eof() for reader, _ in held)  # the held ones were left alone
    finally:
        for _, writer in held:
            writer.close()
        await server.stop()
    refused = [line for line in log_lines(json_logs) if line["event"] == "http_connection_refused"]
    assert 1 <= len(refused) <= 10  # rate-limited
    assert refused[0]["limit"] == 3
