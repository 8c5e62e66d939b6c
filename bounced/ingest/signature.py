"""SNS message signatures: is this envelope really from Amazon SNS, and unchanged?

Checks run cheapest first, so a forged message costs no network: fields present, version known,
certificate URL on AWS's own host, signature well-formed base64, then the certificate (fetched once per
URL through an injected `CertificateFetcher`, kept in a small LRU) and the RSA signature itself.

Every refusal is a `ReadError` whose `code` is one of:
- `unsigned`: SignatureVersion, Signature or SigningCertURL missing.
- `unsupported_signature_version`: anything but "1" (SHA1withRSA) or "2" (SHA256withRSA).
- `bad_certificate_url`: not exactly `https://sns.<region>.amazonaws.com[.cn]/SimpleNotificationService-<hex>.pem`.
- `bad_envelope`: an unknown Type, or a confirmation without SubscribeURL or Token (nothing to verify).
- `bad_certificate`: AWS's host answered, and the answer is not a usable certificate (3xx, 4xx, too
  large, not PEM, no RSA key, outside its validity window now).
- `bad_signature`: not base64, or does not verify against the certificate's key.

`CertificateUnavailable` is not a `ReadError`: the certificate could not be had for a reason that says
nothing about the message (timeout, connection refused, DNS, TLS, 5xx, 429). The consumer leaves the
message on the queue to try again; SQS's receive count bounds how long.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bounced.core.clock import Clock, SystemClock
from bounced.core.model import ReadError, SnsEnvelope

# The whole URL must match, not a prefix: `https://sns.us-east-1.amazonaws.com@evil.com/...`,
# `...amazonaws.com.evil.com`, ports, queries and percent-encoded paths all fall out here. A looser
# check was a published vulnerability in a popular Django package.
_CERT_URL = re.compile(
    r"https://(?P<host>sns\.[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}\.amazonaws\.com(?:\.cn)?)"
    r"(?P<path>/SimpleNotificationService-[0-9a-fA-F]{1,64}\.pem)"
)

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    # SNS's SignatureVersion 1 is SHA1withRSA by definition; verifying it is not choosing SHA1.
    "1": hashes.SHA1,
    "2": hashes.SHA256,
}

_NOTIFICATION_KEYS: tuple[str, ...] = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
_CONFIRMATION_TYPES = frozenset({"SubscriptionConfirmation", "UnsubscribeConfirmation"})


class CertificateUnavailable(Exception):
    """The signing certificate could not be fetched for a transient reason: try the message later."""


class CertificateFetcher(Protocol):
    """Fetches the bytes of a signing certificate from an already-checked URL.

    Raises `ReadError("bad_certificate", ...)` when the host answered with something that is not a
    certificate, and `CertificateUnavailable` when there was no usable answer at all.
    """

    async def fetch(self, url: str) -> bytes:
        """The body served at `url`."""
        ...


def check_certificate_url(url: str) -> str:
    """The certificate URL rebuilt from its checked parts, or `ReadError("bad_certificate_url")`."""
    match = _CERT_URL.fullmatch(url)
    if match is None:
        raise ReadError("bad_certificate_url", f"certificate URL is not on an SNS host: {url[:200]!r}")
    # The regex already decides; urllib must agree, so no parser differential can slip through.
    parts = urlsplit(url)
    if (parts.scheme, parts.netloc, parts.path, parts.query, parts.fragment) != (
        "https",
        match["host"],
        match["path"],
        "",
        "",
    ):
        raise ReadError("bad_certificate_url", f"certificate URL parses ambiguously: {url[:200]!r}")
    return f"https://{match['host']}{match['path']}"


def string_to_sign(envelope: SnsEnvelope) -> bytes:
    """The exact bytes SNS signs for this envelope: `key\\nvalue\\n` for each signed key, in order."""
    values = {
        "Message": envelope.message,
        "MessageId": envelope.message_id,
        "Subject": envelope.subject,
        "SubscribeURL": envelope.subscribe_url,
        "Timestamp": envelope.timestamp,
        "Token": envelope.token,
        "TopicArn": envelope.topic_arn,
        "Type": envelope.type,
    }
    if envelope.type == "Notification":
        keys = _NOTIFICATION_KEYS
    elif envelope.type in _CONFIRMATION_TYPES:
        keys = _CONFIRMATION_KEYS
        missing = [key for key in ("SubscribeURL", "Token") if values[key] is None]
        if missing:
            raise ReadError("bad_envelope", f"{envelope.type} without {', '.join(missing)}")
    else:
        raise ReadError("bad_envelope", f"unknown SNS message type {envelope.type[:50]!r}")
    # Subject is signed only when SNS sent one; absent and empty are different messages.
    text = "".join(f"{key}\n{values[key]}\n" for key in keys if values[key] is not None)
    try:
        return text.encode()
    except UnicodeEncodeError as error:  # a lone surrogate from a JSON escape: SNS never sends one
        raise ReadError("bad_envelope", "a signed field is not valid Unicode") from error


def _decode_signature(signature: str) -> bytes:
    try:
        decoded = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ReadError("bad_signature", "signature is not base64") from error
    if not decoded:
        raise ReadError("bad_signature", "signature is empty")
    return decoded


@dataclass(frozen=True, slots=True)
class _SigningKey:
    """What the verifier keeps of a certificate: its RSA key and its validity window."""

    key: rsa.RSAPublicKey
    not_before: datetime
    not_after: datetime


def _parse_certificate(pem: bytes) -> _SigningKey:
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError as error:
        raise ReadError("bad_certificate", "certificate is not a PEM X.509 certificate") from error
    try:
        key = certificate.public_key()
    except ValueError as error:
        raise ReadError("bad_certificate", "certificate's public key cannot be read") from error
    if not isinstance(key, rsa.RSAPublicKey):
        raise ReadError("bad_certificate", "certificate's key is not RSA")
    return _SigningKey(key, certificate.not_valid_before_utc, certificate.not_valid_after_utc)


class SnsSignatureVerifier:
    """Verifies SNS envelopes against certificates fetched through `fetcher`, cached by URL.

    The certificate must be inside its validity window at `clock.now()` (checked on every message,
    cached or not). Its subject is not checked: trust comes from fetching it over verified HTTPS from
    AWS's own SNS host, and AWS documents no subject name to pin.
    """

    def __init__(
        self, fetcher: CertificateFetcher, *, clock: Clock | None = None, cache_size: int = 32
    ) -> None:
        self._fetcher = fetcher
        self._clock: Clock = clock or SystemClock()
        self._cache_size = cache_size
        self._cache: OrderedDict[str, _SigningKey] = OrderedDict()

    async def verify(self, envelope: SnsEnvelope) -> None:
        """Return if `envelope` is signed by SNS and unchanged; raise `ReadError` or
        `CertificateUnavailable` otherwise (see the module docstring for the codes)."""
        if not (envelope.signature_version and envelope.signature and envelope.signing_cert_url):
            raise ReadError("unsigned", "SignatureVersion, Signature or SigningCertURL is missing")
        algorithm = _HASHES.get(envelope.signature_version)
        if algorithm is None:
            raise ReadError(
                "unsupported_signature_version",
                f"SignatureVersion {envelope.signature_version[:20]!r} is not 1 or 2",
            )
        url = check_certificate_url(envelope.signing_cert_url)
        signature = _decode_signature(envelope.signature)
        signed = string_to_sign(envelope)
        signing_key = await self._signing_key(url)
        self._check_validity(signing_key)
        try:
            signing_key.key.verify(signature, signed, padding.PKCS1v15(), algorithm())
        except InvalidSignature as error:
            raise ReadError("bad_signature", "signature does not verify") from error

    async def _signing_key(self, url: str) -> _SigningKey:
        cached = self._cache.get(url)
        if cached is not None:
            self._cache.move_to_end(url)
            return cached
        # Concurrent misses for one URL may both fetch: harmless, and cheaper than a lock per URL.
        signing_key = _parse_certificate(await self._fetcher.fetch(url))
        self._cache[url] = signing_key
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return signing_key

    def _check_validity(self, signing_key: _SigningKey) -> None:
        now = self._clock.now()
        if not signing_key.not_before <= now <= signing_key.not_after:
            raise ReadError(
                "bad_certificate",
                f"certificate valid {signing_key.not_before.isoformat()} to "
                f"{signing_key.not_after.isoformat()}, not at {now.isoformat()}",
            )
