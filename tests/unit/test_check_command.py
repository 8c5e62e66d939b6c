"""`bounced check` against a real server on loopback: healthy, stale, and nobody listening."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bounced.cli import main
from bounced.service.http import HttpServer, serve
from bounced.service.listen import local_url


async def start(status: int, body: str = "{}", host: str = "127.0.0.1") -> HttpServer:
    async def healthz(request: web.Request) -> web.Response:
        return web.Response(status=status, text=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    return await serve(app, host, 0)


@pytest.fixture
async def healthy() -> AsyncIterator[HttpServer]:
    server = await start(200, '{"status": "ok"}')
    yield server
    await server.stop()


@pytest.fixture
async def stale() -> AsyncIterator[HttpServer]:
    server = await start(503, '{"status": "stale", "stale": ["poller:bounce:0", "scheduler"]}')
    yield server
    await server.stop()


async def check(*argv: str) -> int:
    # The command is synchronous (urllib); run it off the loop so the server can answer.
    return await asyncio.to_thread(main, ["check", *argv])


async def test_healthy_daemon_exits_0(
    healthy: HttpServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOUNCED_HTTP_ADDR", f"127.0.0.1:{healthy.port}")
    assert await check() == 0
    assert capsys.readouterr().err == ""


async def test_wildcard_listen_address_is_asked_on_loopback(
    healthy: HttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOUNCED_HTTP_ADDR", f"0.0.0.0:{healthy.port}")
    assert await check() == 0


async def test_stale_daemon_exits_1_naming_the_stale_parts(
    stale: HttpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await check("--url", f"http://127.0.0.1:{stale.port}/healthz") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("unhealthy: 503 from http://127.0.0.1:")
    assert "(stale: poller:bounce:0, scheduler)" in err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_nobody_listening_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOUNCED_HTTP_ADDR", f"127.0.0.1:{free_port()}")
    started = time.monotonic()
    assert await check() == 1
    assert time.monotonic() - started < 5
    err = capsys.readouterr().err
    assert err.startswith("unhealthy: cannot reach http://127.0.0.1:")
    assert "Connection refused" in err


async def test_unanswered_request_times_out(capsys: pytest.CaptureFixture[str]) -> None:
    # A listening socket that never answers: the check gives up after --timeout.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert await check("--url", f"http://127.0.0.1:{port}/healthz", "--timeout", "0.2") == 1
    assert "timed out" in capsys.readouterr().err


def test_bad_listen_address_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOUNCED_HTTP_ADDR", "::1:8080")
    assert main(["check"]) == 2
    assert "bad BOUNCED_HTTP_ADDR" in capsys.readouterr().err


def test_non_http_url_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--url", "file:///etc/passwd"]) == 1
    assert "not an http(s) URL" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("listen", "url"),
    [
        ("127.0.0.1:8080", "http://127.0.0.1:8080/healthz"),
        ("0.0.0.0:8080", "http://127.0.0.1:8080/healthz"),
        ("[::]:8080", "http://[::1]:8080/healthz"),
        ("[::1]:9", "http://[::1]:9/healthz"),
        ("db.internal:8080", "http://db.internal:8080/healthz"),
    ],
)
def test_local_url(listen: str, url: str) -> None:
    assert local_url(listen, "/healthz") == url


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here")
async def test_daemon_on_ipv6_wildcard_is_asked_on_ipv6_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    server = await start(200, host="::")
    try:
        monkeypatch.setenv("BOUNCED_HTTP_ADDR", f"[::]:{server.port}")
        assert await check() == 0
    finally:
        await server.stop()


async def start_ready(status: int, body: str) -> HttpServer:
    """A daemon stand-in alive on /healthz and answering `status` on /readyz."""

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(status=200, text='{"status": "ok"}', content_type="application/json")

    async def readyz(request: web.Request) -> web.Response:
        return web.Response(status=status, text=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return await serve(app, "127.0.0.1", 0)


async def test_ready_asks_readyz_and_exits_1_with_the_reasons_while_unready(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    unready = (
        '{"status": "unready", "reasons": ["database: ConnectionRefusedError: refused", "queue:retry: gone"]}'
    )
    server = await start_ready(503, unready)
    try:
        monkeypatch.setenv("BOUNCED_HTTP_ADDR", f"127.0.0.1:{server.port}")
        assert await check() == 0  # alive
        assert await check("--ready") == 1  # not ready
    finally:
        await server.stop()
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"unready: 503 from http://127.0.0.1:{server.port}/readyz")
    assert "(database: ConnectionRefusedError: refused; queue:retry: gone)" in err


async def test_ready_exits_0_when_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    server = await start_ready(200, '{"status": "ready"}')
    try:
        monkeypatch.setenv("BOUNCED_HTTP_ADDR", f"127.0.0.1:{server.port}")
        assert await check("--ready") == 0
    finally:
        await server.stop()


def test_ready_with_a_bad_listen_address_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOUNCED_HTTP_ADDR", "garbage")
    assert main(["check", "--ready"]) == 2
    assert capsys.readouterr().err.startswith("unready: bad BOUNCED_HTTP_ADDR")
