"""The HTTP endpoint over a real socket on 127.0.0.1, with fakes behind it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bounced.core.model import Status
from bounced.core.sendgate import RecipientAnswer
from bounced.service.health import Check, Heartbeats, ReadinessReport
from bounced.service.http import build_app, parse_listen_address, serve
from bounced.service.metrics import Metrics

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TOKEN = "s3cret-token"


class FakeClock:
    def __init__(self) -> None:
        self.current = T0

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@dataclass
class FakeGate:
    known: dict[str, RecipientAnswer] = field(default_factory=dict)
    calls: list[list[str]] = field(default_factory=list)
    fail: bool = False

    async def lookup(self, addresses: Sequence[str]) -> Mapping[str, RecipientAnswer | None]:
        self.calls.append(list(addresses))
        if self.fail:
            raise ConnectionError("store down")
        return {a: self.known.get(a) for a in addresses}


@dataclass
class Setup:
    clock: FakeClock = field(default_factory=FakeClock)
    heartbeats: Heartbeats = field(default_factory=Heartbeats)
    metrics: Metrics = field(default_factory=Metrics)
    gate: FakeGate = field(default_factory=FakeGate)
    report: ReadinessReport = field(
        default_factory=lambda: ReadinessReport((Check("postgres", ok=True), Check("schema", ok=True)))
    )
    hang: bool = False

    async def readiness(self) -> ReadinessReport:
        if self.hang:
            await asyncio.Event().wait()
        return self.report

    def app(self, api_token: str | None = None) -> web.Application:
        return build_app(
            heartbeats=self.heartbeats,
            clock=self.clock,
            readiness=self.readiness,
            metrics=self.metrics,
            sendgate=self.gate,
            api_token=api_token,
            readiness_timeout=0.1,
        )


async def client_for(app: web.Application) -> TestClient[web.Request, web.Application]:
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
def setup() -> Setup:
    s = Setup()
    s.heartbeats.register("poller:bounce:0", timedelta(seconds=60), T0)
    s.gate.known["gone@example.com"] = RecipientAnswer(
        "gone@example.com", Status.SUPPRESSED, reason="user-unknown"
    )
    s.gate.known["full@example.com"] = RecipientAnswer(
        "full@example.com", Status.DEFERRED, reason="mailbox-full", retry_at=T0 + timedelta(hours=4)
    )
    return s


@pytest.fixture
async def client(setup: Setup) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    c = await client_for(setup.app())
    yield c
    await c.close()


@pytest.fixture
async def locked(setup: Setup) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    c = await client_for(setup.app(api_token=TOKEN))
    yield c
    await c.close()


Client = TestClient[web.Request, web.Application]


async def get_json(client: Client, path: str, **kwargs: Any) -> tuple[int, Any]:
    response = await client.get(path, **kwargs)
    return response.status, await response.json()


async def test_healthz_ok_while_components_beat(setup: Setup, client: Client) -> None:
    setup.clock.current = T0 + timedelta(seconds=30)
    setup.heartbeats.beat("poller:bounce:0", setup.clock.current)
    status, body = await get_json(client, "/healthz")
    assert status == 200
    assert body["status"] == "ok"
    assert body["components"]["poller:bounce:0"]["stale"] is False


async def test_healthz_503_names_the_stale_part(setup: Setup, client: Client) -> None:
    setup.clock.current = T0 + timedelta(seconds=61)
    status, body = await get_json(client, "/healthz")
    assert status == 503
    assert body["stale"] == ["poller:bounce:0"]


async def test_readyz_200_when_every_check_passes(client: Client) -> None:
    status, body = await get_json(client, "/readyz")
    assert status == 200
    assert body["status"] == "ready"


async def test_readyz_503_with_reasons(setup: Setup, client: Client) -> None:
    setup.report = ReadinessReport((Check("postgres", ok=True), Check("schema", ok=False, detail="behind")))
    status, body = await get_json(client, "/readyz")
    assert status == 503
    assert body["reasons"] == ["schema: behind"]


async def test_readyz_hung_check_gives_503_not_a_hung_request(setup: Setup, client: Client) -> None:
    setup.hang = True
    status, body = await asyncio.wait_for(get_json(client, "/readyz"), timeout=5)
    assert status == 503
    assert body["reasons"] == ["readiness check timed out after 0.1s"]
    assert b'bounced_errors_total{component="readiness"} 1.0' in setup.metrics.render()


async def test_readyz_failing_check_gives_503(setup: Setup, client: Client) -> None:
    async def broken() -> ReadinessReport:
        raise OSError("no route")

    setup.readiness = broken  # type: ignore[method-assign]
    app = setup.app()
    c = await client_for(app)
    try:
        status, body = await get_json(c, "/readyz")
    finally:
        await c.close()
    assert status == 503
    assert body["reasons"] == ["readiness check failed: OSError"]


async def test_metrics_are_prometheus_text(setup: Setup, client: Client) -> None:
    setup.metrics.received("bounce", 3)
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert 'bounced_messages_received_total{queue="bounce"} 3.0' in await response.text()


async def test_one_recipient_known(client: Client) -> None:
    status, body = await get_json(client, "/v1/recipients/Full@Example.com")
    assert status == 200
    assert body == {
        "address": "full@example.com",
        "sendable": False,
        "status": "deferred",
        "reason": "mailbox-full",
        "retry_at": "2026-01-01T04:00:00+00:00",
    }


async def test_unknown_recipient_is_sendable_with_no_status(client: Client) -> None:
    status, body = await get_json(client, "/v1/recipients/new%2Btag@example.com")
    assert status == 200
    assert body == {
        "address": "new+tag@example.com",
        "sendable": True,
        "status": None,
        "reason": None,
        "retry_at": None,
    }


async def test_one_recipient_bad_address_is_400(client: Client) -> None:
    status, body = await get_json(client, "/v1/recipients/not-an-address")
    assert status == 400
    assert body["error"] == "invalid_address"


async def test_check_many_keeps_order_and_flags_bad_addresses(setup: Setup, client: Client) -> None:
    addresses = ["gone@example.com", "nobody", "fresh@example.com", "GONE@example.com"]
    response = await client.post("/v1/recipients/check", json={"addresses": addresses})
    assert response.status == 200
    results = (await response.json())["results"]
    assert [r.get("sendable") for r in results] == [False, None, True, False]
    assert results[1] == {"address": "nobody", "error": "invalid_address"}
    assert setup.gate.calls == [["fresh@example.com", "gone@example.com"]]


async def test_check_accepts_exactly_the_limit(client: Client) -> None:
    addresses = [f"u{i}@example.com" for i in range(1000)]
    response = await client.post("/v1/recipients/check", json={"addresses": addresses})
    assert response.status == 200
    assert len((await response.json())["results"]) == 1000


async def test_check_refuses_more_than_the_limit(setup: Setup, client: Client) -> None:
    addresses = [f"u{i}@example.com" for i in range(1001)]
    response = await client.post("/v1/recipients/check", json={"addresses": addresses})
    assert response.status == 413
    body = await response.json()
    assert body["error"] == "too_many_addresses"
    assert body["limit"] == 1000
    assert setup.gate.calls == []


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b"\xff\xfe",
        b'{"addresses": ' + b"[" * 5000 + b"]" * 5000 + b"}",  # deeper than any parser's stack
        b'{"addresses": [' + b"7" * 5000 + b"]}",  # past Python's int-digit limit
        b'{"addresses": ["a@example.org"], "n": ' + b"9" * 5000 + b"}",
    ],
    ids=["not-json", "not-utf8", "deep", "long-number", "long-number-aside"],
)
async def test_check_malformed_json_is_400(client: Client, payload: bytes) -> None:
    response = await client.post("/v1/recipients/check", data=payload)
    assert response.status == 400
    assert (await response.json())["error"] == "malformed_json"


@pytest.mark.parametrize("payload", [[], {"addresses": "a@b.c"}, {"addresses": [1]}, {"other": []}])
async def test_check_wrong_shape_is_400(client: Client, payload: object) -> None:
    response = await client.post("/v1/recipients/check", json=payload)
    assert response.status == 400
    assert (await response.json())["error"] == "bad_request"


async def test_store_failure_is_503_and_counted(setup: Setup, client: Client) -> None:
    setup.gate.fail = True
    status, body = await get_json(client, "/v1/recipients/gone@example.com")
    assert status == 503
    assert body["error"] == "unavailable"
    assert b'bounced_errors_total{component="sendgate"} 1.0' in setup.metrics.render()


async def test_token_required_on_v1(locked: Client) -> None:
    status, _ = await get_json(locked, "/v1/recipients/gone@example.com")
    assert status == 401
    wrong = {"Authorization": "Bearer nope"}
    status, _ = await get_json(locked, "/v1/recipients/gone@example.com", headers=wrong)
    assert status == 401
    response = await locked.post("/v1/recipients/check", json={"addresses": []})
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_right_token_passes(locked: Client) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    status, body = await get_json(locked, "/v1/recipients/gone@example.com", headers=headers)
    assert status == 200
    assert body["status"] == "suppressed"


async def test_health_and_metrics_stay_open_with_a_token(locked: Client) -> None:
    assert (await locked.get("/healthz")).status == 200
    assert (await locked.get("/readyz")).status == 200
    assert (await locked.get("/metrics")).status == 200


async def test_no_sendgate_no_v1_routes(setup: Setup) -> None:
    app = build_app(
        heartbeats=setup.heartbeats, clock=setup.clock, readiness=setup.readiness, metrics=setup.metrics
    )
    c = await client_for(app)
    try:
        assert (await c.get("/v1/recipients/a@example.com")).status == 404
    finally:
        await c.close()


async def test_serve_binds_a_free_port_and_stops(setup: Setup) -> None:
    server = await serve(setup.app(), "127.0.0.1", 0)
    try:
        assert server.port > 0
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await writer.drain()
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        writer.close()
        await writer.wait_closed()
    finally:
        await server.stop()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", server.port)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("0.0.0.0:9000", ("0.0.0.0", 9000)),  # noqa: S104 -- parsing, not binding
        ("localhost:80", ("localhost", 80)),
        ("[::1]:8080", ("::1", 8080)),
        ("[::]:0", ("::", 0)),
        (" 127.0.0.1:8080 ", ("127.0.0.1", 8080)),
    ],
)
def test_parse_listen_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen_address(text) == expected


@pytest.mark.parametrize(
    "text", ["8080", ":8080", "127.0.0.1", "127.0.0.1:", "host:http", "::1:8080", "[]:80", "a:70000", "a:-1"]
)
def test_parse_listen_address_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_listen_address(text)


async def test_unexpected_handler_error_is_500_and_counted(setup: Setup) -> None:
    class BrokenClock(FakeClock):
        def now(self) -> datetime:
            raise RuntimeError("clock broke")

    setup.clock = BrokenClock()
    c = await client_for(setup.app())
    try:
        assert (await c.get("/healthz")).status == 500
    finally:
        await c.close()
    assert b'bounced_errors_total{component="http"} 1.0' in setup.metrics.render()
