"""The HTTP endpoint: `/healthz`, `/readyz`, `/metrics`, and the read-only send-gate under `/v1/`.

Everything the app needs is injected (`build_app`), so tests run it against fakes on 127.0.0.1. The
access log is off: send-gate paths carry e-mail addresses, which never go to logs at INFO. For the same
reason aiohttp's own error log is replaced (`_ServerLog`): a malformed request is one
`http_bad_request` event, without the request line (it may hold an address) or a traceback.

The port must not starve the rest of the daemon of file descriptors (`serve`): at most
`max_connections` connections are open at once, and a connection beyond that is closed as soon as it
is accepted; a connection that has not delivered a complete request head within `header_timeout`
seconds of opening (or of its previous answer) is closed, which also bounds idle keep-alive.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Middleware

from bounced.core.clock import Clock
from bounced.core.sendgate import MAX_ADDRESSES, SendGate, answer_json, normalise_address
from bounced.service.health import Heartbeats, ReadinessReport
from bounced.service.listen import parse_listen_address
from bounced.service.metrics import Metrics

__all__ = ["HttpServer", "Readiness", "build_app", "parse_listen_address", "serve"]

log = structlog.get_logger(__name__)

Readiness = Callable[[], Awaitable[ReadinessReport]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

DEFAULT_READINESS_TIMEOUT = 5.0
DEFAULT_MAX_CONNECTIONS = 256
# Seconds a connection gets to deliver a complete request head. Clients on a LAN need milliseconds.
HEADER_TIMEOUT = 5.0
# aiohttp's and asyncio's default listen backlog: connections the kernel holds before we accept them.
BACKLOG = 128


def build_app(
    *,
    heartbeats: Heartbeats,
    clock: Clock,
    readiness: Readiness,
    metrics: Metrics,
    sendgate: SendGate | None = None,
    api_token: str | None = None,
    readiness_timeout: float = DEFAULT_READINESS_TIMEOUT,
) -> web.Application:
    """The aiohttp application. Without a `sendgate` the `/v1/` routes are absent (404); with an
    `api_token` they need `Authorization: Bearer <token>`. Health and metrics are always open."""
    routes = _Routes(heartbeats, clock, readiness, metrics, readiness_timeout)
    app = web.Application(middlewares=[_error_counter(metrics)])
    app.router.add_get("/healthz", routes.healthz)
    app.router.add_get("/readyz", routes.readyz)
    app.router.add_get("/metrics", routes.metrics_text)
    if sendgate is not None:
        gate = _SendGateRoutes(sendgate, metrics)
        guard = _bearer_guard(api_token)
        app.router.add_get("/v1/recipients/{address}", guard(gate.one))
        app.router.add_post("/v1/recipients/check", guard(gate.many))
    return app


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


def _error(status: int, code: str, detail: str, **extra: Any) -> web.Response:
    return _json({"error": code, "detail": detail, **extra}, status=status)


@dataclass(frozen=True, slots=True)
class _Routes:
    heartbeats: Heartbeats
    clock: Clock
    readiness: Readiness
    metrics: Metrics
    readiness_timeout: float

    async def healthz(self, request: web.Request) -> web.Response:
        report = self.heartbeats.report(self.clock.now())
        return _json(report.to_json(), status=200 if report.healthy else 503)

    async def readyz(self, request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(self.readiness_timeout):
                report = await self.readiness()
        except TimeoutError:
            return self._unready(f"readiness check timed out after {self.readiness_timeout:g}s")
        except Exception as exc:  # a failing check means "not ready", never a 500
            return self._unready(f"readiness check failed: {type(exc).__name__}")
        return _json(report.to_json(), status=200 if report.ready else 503)

    def _unready(self, reason: str) -> web.Response:
        self.metrics.error("readiness")
        log.warning("readiness_check_failed", reason=reason)
        return _json({"status": "unready", "checks": {}, "reasons": [reason]}, status=503)

    async def metrics_text(self, request: web.Request) -> web.Response:
        response = web.Response(body=self.metrics.render())
        response.headers["Content-Type"] = self.metrics.content_type
        return response


@dataclass(frozen=True, slots=True)
class _SendGateRoutes:
    sendgate: SendGate
    metrics: Metrics

    async def one(self, request: web.Request) -> web.Response:
        try:
            address = normalise_address(request.match_info["address"])
        except ValueError:
            return _error(400, "invalid_address", "not an e-mail address")
        answers = await self._lookup([address])
        if answers is None:
            return _unavailable()
        return _json(answer_json(address, answers.get(address)))

    async def many(self, request: web.Request) -> web.Response:
        raw = await _read_addresses(request)
        if isinstance(raw, web.Response):
            return raw
        normalised = [_try_normalise(item) for item in raw]
        answers = await self._lookup(sorted({a for a in normalised if a is not None}))
        if answers is None:
            return _unavailable()
        results = [
            answer_json(a, answers.get(a))
            if a is not None
            else {"address": given, "error": "invalid_address"}
            for given, a in zip(raw, normalised, strict=True)
        ]
        return _json({"results": results})

    async def _lookup(self, addresses: Sequence[str]) -> dict[str, Any] | None:
        if not addresses:
            return {}
        try:
            return dict(await self.sendgate.lookup(addresses))
        except Exception as exc:  # the store is down: say so, don't 500
            self.metrics.error("sendgate")
            log.warning("sendgate_lookup_failed", error=type(exc).__name__, count=len(addresses))
            return None


def _unavailable() -> web.Response:
    return _error(503, "unavailable", "the recipient store did not answer")


def _try_normalise(raw: str) -> str | None:
    try:
        return normalise_address(raw)
    except ValueError:
        return None


async def _read_addresses(request: web.Request) -> list[str] | web.Response:
    """The `addresses` list of a check request, or the error response for a bad request."""
    try:
        # orjson rejects what the standard parser chokes on: nesting past 1,024 levels (RecursionError)
        # and integers past 4,300 digits (ValueError); all are JSONDecodeError here.
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return _error(400, "malformed_json", "the body is not valid JSON")
    addresses = body.get("addresses") if isinstance(body, dict) else None
    if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
        return _error(400, "bad_request", 'expected {"addresses": ["...", ...]}')
    if len(addresses) > MAX_ADDRESSES:
        return _error(413, "too_many_addresses", f"at most {MAX_ADDRESSES} per request", limit=MAX_ADDRESSES)
    return addresses


def _bearer_guard(token: str | None) -> Callable[[Handler], Handler]:
    """Wrap handlers to require `Authorization: Bearer <token>` when a token is configured."""
    expected = f"Bearer {token}".encode() if token else None

    def wrap(handler: Handler) -> Handler:
        if expected is None:
            return handler

        async def guarded(request: web.Request) -> web.StreamResponse:
            # aiohttp keeps undecodable header bytes as surrogates: give the bytes back, never a 500.
            given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
            if not hmac.compare_digest(given, expected):
                response = _error(401, "unauthorized", "a valid bearer token is required")
                response.headers["WWW-Authenticate"] = "Bearer"
                return response
            return await handler(request)

        return guarded

    return wrap


def _error_counter(metrics: Metrics) -> Middleware:
    @web.middleware
    async def count_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception as exc:
            metrics.error("http")
            # The route's template, not the path: send-gate paths carry addresses.
            route = request.match_info.route.resource
            log.exception(
                "http_handler_failed", route=route.canonical if route else None, error=type(exc).__name__
            )
            raise

    return count_errors


@dataclass(slots=True)
class HttpServer:
    """A running endpoint: where it listens, and how to stop it."""

    runner: web.AppRunner
    host: str
    port: int

    async def stop(self) -> None:
        """Stop listening, let in-flight requests finish (up to the runner's shutdown timeout)."""
        await self.runner.cleanup()


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    shutdown_timeout: float = 5.0,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    header_timeout: float = HEADER_TIMEOUT,
) -> HttpServer:
    """Start `app` on host:port (port 0 picks a free one; `HttpServer.port` says which), with at most
    `max_connections` open connections and `header_timeout` seconds for each request head."""
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=shutdown_timeout,
        # aiohttp closes a connection whose next request has not fully arrived when this runs out,
        # counted from the connection's start or its last answer: the header-read timeout.
        keepalive_timeout=header_timeout,
        logger=_ServerLog(),
    )
    await runner.setup()
    site = _CappedSite(runner, host, port, max_connections)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = runner.addresses[0]
    return HttpServer(runner=runner, host=host, port=int(bound[1]))


class _CappedSite(web.BaseSite):
    """A TCP site that lets at most `limit` connections be open at once."""

    __slots__ = ("_host", "_limit", "_port")

    def __init__(self, runner: web.BaseRunner, host: str, port: int, limit: int) -> None:
        super().__init__(runner, backlog=BACKLOG)
        self._host, self._port, self._limit = host, port, limit

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        assert self._runner.server is not None  # noqa: S101 -- BaseSite refuses an unset-up runner
        factory = _ConnectionCap(self._runner.server, self._limit)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(factory, self._host, self._port, backlog=self._backlog)


class _ConnectionCap:
    """The listening socket's protocol factory: aiohttp's handler while fewer than `limit` connections
    are open, else a protocol that closes the connection at once. Closing rather than not accepting
    keeps the kernel's backlog moving, so a client over the cap learns at once instead of hanging;
    open descriptors stay at `limit` plus at most one accept batch (`BACKLOG`) being closed."""

    def __init__(self, handlers: Callable[[], asyncio.Protocol], limit: int) -> None:
        self._handlers = handlers
        self.limit = limit
        self.open = 0

    def __call__(self) -> asyncio.Protocol:
        if self.open >= self.limit:
            log.warning("http_connection_refused", limit=self.limit)
            return _Refused()
        self.open += 1
        return _Counted(self._handlers(), self._release)

    def _release(self) -> None:
        self.open -= 1


class _Refused(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class _Counted(asyncio.Protocol):
    """aiohttp's handler, giving its slot back when the connection ends (or, should asyncio drop a
    connection before it was made, when this wrapper is collected)."""

    def __init__(self, inner: asyncio.Protocol, release: Callable[[], None]) -> None:
        self._inner = inner
        self._release = weakref.finalize(self, release)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()  # once: a finalizer runs at most once
        self._inner.connection_lost(exc)


class _ServerLog(logging.Logger):
    """What aiohttp's request handler logs, as bounced events. aiohttp logs a malformed request with
    its request line (which may carry an address) and a traceback; here it is `http_bad_request` with
    the status and the error's class, and any other failure `http_request_failed` with the class only
    (handler bugs are logged with their traceback by the error middleware). Debug chatter is dropped."""

    def __init__(self) -> None:
        super().__init__("bounced.service.http.server")

    def handle(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            log.warning("http_bad_request", status=exc.code, error=type(exc).__name__)
        elif record.levelno >= logging.ERROR:
            log.error("http_request_failed", error=type(exc).__name__ if exc else None)
