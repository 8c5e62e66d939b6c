"""The production `CertificateFetcher`: GET the SNS signing certificate over verified HTTPS.

Where the line falls between a bad message and a bad moment:
- `ReadError("bad_certificate")` when AWS's host answered and the answer is wrong: a redirect (never
  followed), a 4xx other than 408/429, a body over the size limit.
- `CertificateUnavailable` when there was no usable answer: timeout, connection refused or reset, DNS,
  a TLS failure (as likely our clock or CA bundle as an attacker), 5xx, 408, 429. The message stays on
  the queue; if the condition lasts, the queue's receive count ends it in the quarantine anyway.

A session per fetch: certificates are cached by the verifier, so fetches are rare, and nothing has to
be closed at shutdown.

The fetch honours `HTTPS_PROXY` and `NO_PROXY` (either case), as the AWS SDK's SQS client does, so a
daemon whose only way out is a proxy reaches both. TLS runs end to end through the proxy's CONNECT
tunnel: the certificate is still checked against the system's CAs.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

import aiohttp

from bounced.core.model import ReadError
from bounced.ingest.signature import CertificateUnavailable, check_certificate_url

DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_MAX_BYTES = 16 * 1024  # SNS certificates are about 2 KiB of PEM
_TRANSIENT_STATUSES = frozenset({408, 429})


def _require_sns_url(url: str) -> None:
    check_certificate_url(url)


class HttpsCertificateFetcher:
    """Fetches certificates over HTTPS only, without redirects, within `timeout` seconds and
    `max_bytes` bytes. `url_check` raises for a URL that must not be fetched (by default the SNS
    host check); `ssl_context` defaults to the system's verified context (tests pass their own)."""

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        ssl_context: ssl.SSLContext | None = None,
        url_check: Callable[[str], None] = _require_sns_url,
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_bytes = max_bytes
        self._ssl = ssl_context or ssl.create_default_context()
        self._url_check = url_check

    async def fetch(self, url: str) -> bytes:
        """The certificate body at `url`; see the module docstring for what is raised when."""
        if not url.startswith("https://"):
            raise ReadError("bad_certificate_url", "certificate URL is not https")
        self._url_check(url)
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout, trust_env=True) as session,
                session.get(url, allow_redirects=False, ssl=self._ssl) as response,
            ):
                self._check_status(response.status)
                return await self._read_limited(response)
        except TimeoutError as error:
            raise CertificateUnavailable(f"timed out fetching {url}") from error
        except aiohttp.ClientError as error:
            raise CertificateUnavailable(f"cannot fetch {url}: {type(error).__name__}") from error

    def _check_status(self, status: int) -> None:
        if status >= 500 or status in _TRANSIENT_STATUSES:
            raise CertificateUnavailable(f"certificate host answered HTTP {status}")
        if status != 200:
            raise ReadError("bad_certificate", f"certificate host answered HTTP {status}")

    async def _read_limited(self, response: aiohttp.ClientResponse) -> bytes:
        if response.content_length is not None and response.content_length > self._max_bytes:
            raise ReadError("bad_certificate", f"certificate is {response.content_length} bytes")
        body = bytearray()
        async for chunk in response.content.iter_chunked(4096):
            body += chunk
            if len(body) > self._max_bytes:
                raise ReadError("bad_certificate", f"certificate is over {self._max_bytes} bytes")
        return bytes(body)
