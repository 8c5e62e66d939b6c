"""The HTTP endpoint: `/healthz`, `/readyz`, `/metrics`, and the read-only send-gate under `/v1/`.

Everything the app needs is injected (`build_app`), so tests run it against fakes on 127.0.0.1. The
access log is off: send-gate paths carry e-mail addresses, which never go to logs at INFO.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from bounced.clock import Clock
from bounced.health import Heartbeats, ReadinessReport
from bounced.listen import parse_listen_address
from bounced.metrics import Metrics
from bounced.sendgate import MAX_ADDRESSES, SendGate, answer_json, normalise_address

__all__ = ["HttpServer", "Readiness", "build_app", "parse_listen_address", "serve"]

log = structlog.get_logger(__name__)

Readiness = Callable[[], Awaitable[ReadinessReport]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

DEFAULT_READINESS_TIMEOUT = 5.0


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
        body = json.loads(await request.read())
    except (json.JSONDecodeError, UnicodeDecodeError):
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
            given = request.headers.get("Authorization", "").encode()
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


async def serve(app: web.Application, host: str, port: int, *, shutdown_timeout: float = 5.0) -> HttpServer:
    """Start `app` on host:port (port 0 picks a free one; `HttpServer.port` says which)."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = runner.addresses[0]
    return HttpServer(runner=runner, host=host, port=int(bound[1]))
