"""HttpsCertificateFetcher against a real aiohttp server over TLS on 127.0.0.1."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bounced.core.model import ReadError
from bounced.ingest.certificate_fetcher import HttpsCertificateFetcher
from bounced.ingest.signature import CertificateUnavailable
from tests.support.connect_proxy import connect_proxy
from tests.support.sns_signing import SnsSigner, rsa_key, self_signed_certificate

LIMIT = 16 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")


@pytest.fixture(autouse=True)
def _no_proxy_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy set where the tests run must not carry them off this machine."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@dataclass
class Server:
    """The test server: its base URL, a client context that trusts it, and what it was asked for."""

    base: str
    client_ssl: ssl.SSLContext
    certificate: bytes
    requests: list[str] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)


def accept_any_url(url: str) -> None:
    """A url_check for tests: the server is on 127.0.0.1, not on AWS's host."""


def tls_contexts(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    key = rsa_key("tls")
    loopback = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
    certificate = self_signed_certificate(key, common_name="127.0.0.1", subject_alt_names=(loopback,))
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ssl.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return server_ssl, ssl.create_default_context(cadata=cert_pem.decode())


def routes(server: Server, certificate: bytes) -> web.Application:
    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(LIMIT // 1024 + 4):
            await response.write(b"A" * 1024)
        await response.write_eof()
        return response

    async def slow(request: web.Request) -> web.Response:
        await server.release.wait()
        return web.Response(body=certificate)

    def fixed(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            return web.Response(status=status, body=body, headers=headers)

        return handler

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        server.requests.append(request.path)
        return await handler(request)

    app = web.Application(middlewares=[record])
    app.router.add_get("/cert.pem", fixed(200, certificate))
    app.router.add_get("/exact-limit", fixed(200, b"B" * LIMIT))
    app.router.add_get("/big", fixed(200, b"A" * (LIMIT + 1)))
    app.router.add_get("/big-chunked", chunked)
    app.router.add_get("/redirect", fixed(302, headers={"Location": "/cert.pem"}))
    app.router.add_get("/moved", fixed(301, headers={"Location": "/cert.pem"}))
    app.router.add_get("/forbidden", fixed(403))
    app.router.add_get("/unavailable", fixed(503))
    app.router.add_get("/internal", fixed(500))
    app.router.add_get("/throttled", fixed(429))
    app.router.add_get("/slow", slow)
    return app


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    server_ssl, client_ssl = tls_contexts(tmp_path)
    state = Server(base="", client_ssl=client_ssl, certificate=SnsSigner.make().pem)
    runner = web.AppRunner(routes(state, state.certificate))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl)
    await site.start()
    host, port = runner.addresses[0][:2]
    state.base = f"https://{host}:{port}"
    yield state
    state.release.set()
    await runner.cleanup()


def fetcher_for(server: Server, *, timeout: float = 5.0) -> HttpsCertificateFetcher:
    return HttpsCertificateFetcher(ssl_context=server.client_ssl, url_check=accept_any_url, timeout=timeout)


async def test_fetches_the_certificate(server: Server) -> None:
    body = await fetcher_for(server).fetch(f"{server.base}/cert.pem")
    assert body == server.certificate


async def test_a_body_at_the_limit_is_fetched(server: Server) -> None:
    assert len(await fetcher_for(server).fetch(f"{server.base}/exact-limit")) == LIMIT


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
async def test_a_body_over_the_limit_is_a_bad_certificate(server: Server, path: str) -> None:
    with pytest.raises(ReadError) as caught:
        await fetcher_for(server).fetch(f"{server.base}{path}")
    assert caught.value.code == "bad_certificate"


@pytest.mark.parametrize("path", ["/redirect", "/moved"])
async def test_redirects_are_refused_not_followed(server: Server, path: str) -> None:
    with pytest.raises(ReadError) as caught:
        await fetcher_for(server).fetch(f"{server.base}{path}")
    assert caught.value.code == "bad_certificate"
    assert server.requests == [path]


@pytest.mark.parametrize("path", ["/nowhere", "/forbidden"])
async def test_a_client_error_is_a_bad_certificate(server: Server, path: str) -> None:
    with pytest.raises(ReadError) as caught:
        await fetcher_for(server).fetch(f"{server.base}{path}")
    assert caught.value.code == "bad_certificate"


@pytest.mark.parametrize("path", ["/unavailable", "/internal", "/throttled"])
async def test_a_server_error_is_transient(server: Server, path: str) -> None:
    with pytest.raises(CertificateUnavailable, match="HTTP"):
        await fetcher_for(server).fetch(f"{server.base}{path}")


async def test_a_slow_host_times_out_as_transient(server: Server) -> None:
    with pytest.raises(CertificateUnavailable, match="timed out"):
        await fetcher_for(server, timeout=0.2).fetch(f"{server.base}/slow")


async def test_an_untrusted_tls_certificate_is_transient(server: Server) -> None:
    # The system's CAs do not know the test server: as it would be with a broken CA bundle or a MITM.
    fetcher = HttpsCertificateFetcher(url_check=accept_any_url)
    with pytest.raises(CertificateUnavailable, match="Certificate"):
        await fetcher.fetch(f"{server.base}/cert.pem")
    assert server.requests == []


async def test_connection_refused_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(CertificateUnavailable, match="ClientConnectorError"):
        await HttpsCertificateFetcher(url_check=accept_any_url).fetch(f"https://127.0.0.1:{port}/cert.pem")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1/cert.pem", "HTTP://127.0.0.1:1/cert.pem", "ftp://127.0.0.1:1/cert.pem"]
)
async def test_only_https_is_fetched(url: str) -> None:
    with pytest.raises(ReadError) as caught:
        await HttpsCertificateFetcher(url_check=accept_any_url).fetch(url)
    assert caught.value.code == "bad_certificate_url"


async def test_by_default_only_sns_urls_are_fetched(server: Server) -> None:
    with pytest.raises(ReadError) as caught:
        await HttpsCertificateFetcher(ssl_context=server.client_ssl).fetch(f"{server.base}/cert.pem")
    assert caught.value.code == "bad_certificate_url"
    assert server.requests == []


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy"])
async def test_the_fetch_goes_through_the_https_proxy(
    server: Server, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    async with connect_proxy() as proxy:
        monkeypatch.setenv(variable, proxy.url)
        body = await fetcher_for(server).fetch(f"{server.base}/cert.pem")
    assert body == server.certificate
    assert proxy.tunnels == [server.base.removeprefix("https://")]
    assert server.requests == ["/cert.pem"]


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "*"])
async def test_a_host_named_in_no_proxy_is_fetched_directly(
    server: Server, monkeypatch: pytest.MonkeyPatch, no_proxy: str
) -> None:
    async with connect_proxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", no_proxy)
        body = await fetcher_for(server).fetch(f"{server.base}/cert.pem")
    assert body == server.certificate
    assert proxy.tunnels == []


async def test_an_unreachable_proxy_is_transient(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
    with pytest.raises(CertificateUnavailable):
        await fetcher_for(server).fetch(f"{server.base}/cert.pem")
    assert server.requests == []
