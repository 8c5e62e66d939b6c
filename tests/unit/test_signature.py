"""SNS signature verification against envelopes signed here, the way SNS signs them."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from bounced.core.model import ReadError, SnsEnvelope
from bounced.ingest.signature import (
    CertificateUnavailable,
    SnsSignatureVerifier,
    check_certificate_url,
    string_to_sign,
)
from tests.support.sns_signing import (
    CERT_URL,
    VALID_FROM,
    VALID_UNTIL,
    SnsSigner,
    StaticFetcher,
    confirmation,
    notification,
    pem,
    rsa_key,
    self_signed_certificate,
)

NOW = VALID_FROM + timedelta(days=100)


class FixedClock:
    """A clock stopped at `at`."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


@pytest.fixture(scope="module")
def signer() -> SnsSigner:
    return SnsSigner.make()


@pytest.fixture
def fetcher(signer: SnsSigner) -> StaticFetcher:
    return StaticFetcher({CERT_URL: signer.pem})


@pytest.fixture
def verifier(fetcher: StaticFetcher) -> SnsSignatureVerifier:
    return SnsSignatureVerifier(fetcher, clock=FixedClock(NOW))


def changed(envelope: SnsEnvelope, field: str, value: str | None) -> SnsEnvelope:
    """`envelope` with one field (named by its attribute) set to `value`."""
    changes: dict[str, Any] = {field: value}
    return dataclasses.replace(envelope, **changes)


async def refused(verifier: SnsSignatureVerifier, envelope: SnsEnvelope) -> str:
    with pytest.raises(ReadError) as caught:
        await verifier.verify(envelope)
    return caught.value.code


GOOD = {
    "notification": notification(),
    "notification with subject": notification(subject="Amazon SES Email Event Notification"),
    "notification with unicode": notification('{"x":"Grüße, \\u00e9 ✉"}', subject="Grüße"),
    "subscription confirmation": confirmation("SubscriptionConfirmation"),
    "unsubscribe confirmation": confirmation("UnsubscribeConfirmation"),
}


# string_to_sign


def test_notification_string_to_sign_is_the_documented_one() -> None:
    envelope = notification("m", subject="s", message_id="i", timestamp="t", topic_arn="a")
    expected = b"Message\nm\nMessageId\ni\nSubject\ns\nTimestamp\nt\nTopicArn\na\nType\nNotification\n"
    assert string_to_sign(envelope) == expected


def test_notification_without_subject_leaves_the_key_out() -> None:
    envelope = notification("m", message_id="i", timestamp="t", topic_arn="a")
    assert (
        string_to_sign(envelope)
        == b"Message\nm\nMessageId\ni\nTimestamp\nt\nTopicArn\na\nType\nNotification\n"
    )


def test_empty_subject_is_signed_as_present() -> None:
    assert b"Subject\n\n" in string_to_sign(notification(subject=""))


def test_confirmation_string_to_sign_is_the_documented_one() -> None:
    envelope = dataclasses.replace(
        confirmation(),
        message="m",
        message_id="i",
        subscribe_url="u",
        timestamp="t",
        token="k",
        topic_arn="a",
    )
    expected = (
        b"Message\nm\nMessageId\ni\nSubscribeURL\nu\nTimestamp\nt\nToken\nk\nTopicArn\na\n"
        b"Type\nSubscriptionConfirmation\n"
    )
    assert string_to_sign(envelope) == expected


@pytest.mark.parametrize("missing", ["subscribe_url", "token"])
def test_confirmation_without_its_fields_is_a_bad_envelope(missing: str) -> None:
    with pytest.raises(ReadError) as caught:
        string_to_sign(changed(confirmation(), missing, None))
    assert caught.value.code == "bad_envelope"


@pytest.mark.parametrize("field", ["message", "subject", "topic_arn"])
def test_a_lone_surrogate_is_a_bad_envelope_not_a_crash(field: str) -> None:
    # json.loads('"\\ud800"') gives one; a hostile body must not escape as UnicodeEncodeError.
    with pytest.raises(ReadError) as caught:
        string_to_sign(changed(notification(), field, "x\ud800"))
    assert caught.value.code == "bad_envelope"


def test_unknown_type_is_a_bad_envelope() -> None:
    with pytest.raises(ReadError) as caught:
        string_to_sign(dataclasses.replace(notification(), type="Surprise"))
    assert caught.value.code == "bad_envelope"


# good messages


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("name", list(GOOD))
async def test_sns_signed_envelopes_pass(
    verifier: SnsSignatureVerifier, signer: SnsSigner, name: str, version: str
) -> None:
    await verifier.verify(signer.sign(GOOD[name], version))


# tampering: every signed field


TAMPERINGS: dict[str, tuple[str, dict[str, Any]]] = {
    "Message": ("notification", {"message": '{"notificationType":"Complaint"}'}),
    "MessageId": ("notification", {"message_id": "another-id"}),
    "Subject added": ("notification", {"subject": "added"}),
    "Subject removed": ("notification with subject", {"subject": None}),
    "Subject changed": ("notification with subject", {"subject": "changed"}),
    "Subject emptied": ("notification with subject", {"subject": ""}),
    "Timestamp": ("notification", {"timestamp": "2024-05-01T12:00:00.001Z"}),
    "TopicArn": ("notification", {"topic_arn": "arn:aws:sns:us-east-1:123456789012:other"}),
    "Type": ("subscription confirmation", {"type": "UnsubscribeConfirmation"}),
    "Token": ("subscription confirmation", {"token": "0" * 64}),
    "SubscribeURL": ("subscription confirmation", {"subscribe_url": "https://evil.example/confirm"}),
    "confirmation Message": ("unsubscribe confirmation", {"message": "changed"}),
    "trailing newline in Message": ("notification", {"message": '{"notificationType":"Bounce"}\n'}),
}


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("tampered", list(TAMPERINGS))
async def test_every_tampered_field_is_refused(
    verifier: SnsSignatureVerifier, signer: SnsSigner, tampered: str, version: str
) -> None:
    name, changes = TAMPERINGS[tampered]
    envelope = dataclasses.replace(signer.sign(GOOD[name], version), **changes)
    assert await refused(verifier, envelope) == "bad_signature"


async def test_version_swapped_after_signing_is_refused(
    verifier: SnsSignatureVerifier, signer: SnsSigner
) -> None:
    envelope = dataclasses.replace(signer.sign(notification(), "1"), signature_version="2")
    assert await refused(verifier, envelope) == "bad_signature"


async def test_signature_by_another_key_is_refused(verifier: SnsSignatureVerifier) -> None:
    forger = SnsSigner.make("forger")
    assert await refused(verifier, forger.sign(notification(), "2")) == "bad_signature"


async def test_unsigned_fields_may_change(verifier: SnsSignatureVerifier, signer: SnsSigner) -> None:
    # SNS does not sign UnsubscribeURL; a verifier that refused this would refuse real traffic.
    envelope = dataclasses.replace(signer.sign(notification()), unsubscribe_url="https://x.example/")
    await verifier.verify(envelope)


# malformed signatures and versions


@pytest.mark.parametrize("field", ["signature_version", "signature", "signing_cert_url"])
@pytest.mark.parametrize("value", [None, ""])
async def test_missing_signature_fields_are_unsigned(
    verifier: SnsSignatureVerifier, signer: SnsSigner, field: str, value: str | None
) -> None:
    envelope = changed(signer.sign(notification()), field, value)
    assert await refused(verifier, envelope) == "unsigned"


@pytest.mark.parametrize("version", ["0", "3", "1.0", " 1", "2 ", "SHA256"])
async def test_other_signature_versions_are_refused(
    verifier: SnsSignatureVerifier, signer: SnsSigner, version: str
) -> None:
    envelope = dataclasses.replace(signer.sign(notification()), signature_version=version)
    assert await refused(verifier, envelope) == "unsupported_signature_version"


@pytest.mark.parametrize("signature", ["not base64!", "QUJD=", "QUJ", "QU JD", "QUJD\n", "===="])
async def test_bad_base64_is_a_bad_signature(
    verifier: SnsSignatureVerifier, signer: SnsSigner, signature: str
) -> None:
    envelope = dataclasses.replace(signer.sign(notification()), signature=signature)
    assert await refused(verifier, envelope) == "bad_signature"


async def test_truncated_signature_is_refused(verifier: SnsSignatureVerifier, signer: SnsSigner) -> None:
    good = signer.sign(notification())
    assert good.signature is not None
    envelope = dataclasses.replace(good, signature=good.signature[:-8] + "AAAAAAA=")
    assert await refused(verifier, envelope) == "bad_signature"


async def test_local_checks_fail_before_any_fetch(
    verifier: SnsSignatureVerifier, fetcher: StaticFetcher, signer: SnsSigner
) -> None:
    # A forged flood must not turn into requests to AWS.
    for envelope in (
        dataclasses.replace(signer.sign(notification()), signature="!!"),
        dataclasses.replace(signer.sign(notification()), signature_version="9"),
        dataclasses.replace(signer.sign(notification()), signing_cert_url="https://evil.example/x.pem"),
        dataclasses.replace(signer.sign(notification()), type="Surprise"),
    ):
        with pytest.raises(ReadError):
            await verifier.verify(envelope)
    assert fetcher.calls == []


# certificate URL


GOOD_URLS = [
    CERT_URL,
    "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-a86cb10b4e1f29c941702d737128f7b6.pem",
    "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-ABCDEF0123.pem",
    "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-3242f7e1b1a9b9b3c5d2d0c0e1f2a3b4.pem",
    "https://sns.ap-southeast-5.amazonaws.com/SimpleNotificationService-00.pem",
]

PEM_PATH = "/SimpleNotificationService-0123456789abcdef.pem"
BAD_URLS = {
    "http": "http://sns.us-east-1.amazonaws.com" + PEM_PATH,
    "no scheme": "//sns.us-east-1.amazonaws.com" + PEM_PATH,
    "upper-case scheme": "HTTPS://sns.us-east-1.amazonaws.com" + PEM_PATH,
    "other host": "https://sns.evil.com" + PEM_PATH,
    "suffix host": "https://sns.us-east-1.amazonaws.com.evil.com" + PEM_PATH,
    "amazonaws.com.evil": "https://sns.us-east-1.amazonaws.com.evil" + PEM_PATH,
    "cn suffix": "https://sns.cn-north-1.amazonaws.com.cn.evil.com" + PEM_PATH,
    "prefix host": "https://evilsns.us-east-1.amazonaws.com" + PEM_PATH,
    "sub-subdomain": "https://x.sns.us-east-1.amazonaws.com" + PEM_PATH,
    "other service": "https://s3.us-east-1.amazonaws.com" + PEM_PATH,
    "no region": "https://sns.amazonaws.com" + PEM_PATH,
    "bucket-like region": "https://sns.my-bucket.amazonaws.com" + PEM_PATH,
    "userinfo": "https://sns.us-east-1.amazonaws.com@evil.com" + PEM_PATH,
    "userinfo before": "https://evil.com@sns.us-east-1.amazonaws.com" + PEM_PATH,
    "user:pass": "https://a:b@sns.us-east-1.amazonaws.com" + PEM_PATH,
    "backslash": "https://sns.us-east-1.amazonaws.com\\@evil.com" + PEM_PATH,
    "port": "https://sns.us-east-1.amazonaws.com:8443" + PEM_PATH,
    "default port spelt": "https://sns.us-east-1.amazonaws.com:443" + PEM_PATH,
    "trailing dot": "https://sns.us-east-1.amazonaws.com." + PEM_PATH,
    "upper-case host": "https://SNS.US-EAST-1.AMAZONAWS.COM" + PEM_PATH,
    "query": "https://sns.us-east-1.amazonaws.com" + PEM_PATH + "?x=1",
    "fragment": "https://sns.us-east-1.amazonaws.com" + PEM_PATH + "#x",
    "other file": "https://sns.us-east-1.amazonaws.com/evil.pem",
    "directory": "https://sns.us-east-1.amazonaws.com/x" + PEM_PATH,
    "traversal": "https://sns.us-east-1.amazonaws.com/../SimpleNotificationService-00.pem",
    "encoded": "https://sns.us-east-1.amazonaws.com/%53impleNotificationService-00.pem",
    "not hex": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-xyz.pem",
    "no id": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-.pem",
    "other extension": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-00.pem.exe",
    "trailing newline": "https://sns.us-east-1.amazonaws.com" + PEM_PATH + "\n",
    "embedded tab": "https://sns.us-east-1.amazon\taws.com" + PEM_PATH,
    "leading space": " https://sns.us-east-1.amazonaws.com" + PEM_PATH,
    "empty": "https://",
}


@pytest.mark.parametrize("url", GOOD_URLS)
def test_sns_certificate_urls_are_accepted(url: str) -> None:
    assert check_certificate_url(url) == url


@pytest.mark.parametrize("name", list(BAD_URLS))
def test_other_certificate_urls_are_refused(name: str) -> None:
    with pytest.raises(ReadError) as caught:
        check_certificate_url(BAD_URLS[name])
    assert caught.value.code == "bad_certificate_url"


@pytest.mark.parametrize("name", ["http", "userinfo", "suffix host", "port"])
async def test_verifier_refuses_foreign_certificate_urls_without_fetching(
    signer: SnsSigner, name: str
) -> None:
    # The forger's own certificate at the forger's URL: only the URL check stands in the way.
    forger = SnsSigner.make("forger", cert_url=BAD_URLS[name])
    fetcher = StaticFetcher({forger.cert_url: forger.pem})
    verifier = SnsSignatureVerifier(fetcher, clock=FixedClock(NOW))
    assert await refused(verifier, forger.sign(notification())) == "bad_certificate_url"
    assert fetcher.calls == []


# the certificate


async def test_certificate_fetch_failure_is_transient(signer: SnsSigner) -> None:
    fetcher = StaticFetcher({}, error=CertificateUnavailable("timed out"))
    verifier = SnsSignatureVerifier(fetcher, clock=FixedClock(NOW))
    with pytest.raises(CertificateUnavailable):
        await verifier.verify(signer.sign(notification()))


def test_certificate_unavailable_is_not_a_read_error() -> None:
    # The consumer quarantines ReadErrors; this one must leave the message on the queue instead.
    assert not issubclass(CertificateUnavailable, ReadError)


async def test_transient_failure_is_not_cached(signer: SnsSigner) -> None:
    fetcher = StaticFetcher({CERT_URL: signer.pem}, error=CertificateUnavailable("down"))
    verifier = SnsSignatureVerifier(fetcher, clock=FixedClock(NOW))
    with pytest.raises(CertificateUnavailable):
        await verifier.verify(signer.sign(notification()))
    fetcher.error = None
    await verifier.verify(signer.sign(notification()))
    assert len(fetcher.calls) == 2


@pytest.mark.parametrize(
    "body",
    [b"", b"<html>Not Found</html>", b"-----BEGIN CERTIFICATE-----\nnonsense\n-----END CERTIFICATE-----\n"],
)
async def test_a_body_that_is_no_certificate_is_a_bad_certificate(signer: SnsSigner, body: bytes) -> None:
    verifier = SnsSignatureVerifier(StaticFetcher({CERT_URL: body}), clock=FixedClock(NOW))
    assert await refused(verifier, signer.sign(notification())) == "bad_certificate"


async def test_a_certificate_without_an_rsa_key_is_a_bad_certificate(signer: SnsSigner) -> None:
    certificate = self_signed_certificate(ec.generate_private_key(ec.SECP256R1()))
    verifier = SnsSignatureVerifier(StaticFetcher({CERT_URL: pem(certificate)}), clock=FixedClock(NOW))
    assert await refused(verifier, signer.sign(notification())) == "bad_certificate"


@pytest.mark.parametrize(
    ("now", "good"),
    [
        (VALID_FROM, True),
        (VALID_UNTIL, True),
        (VALID_FROM - timedelta(seconds=1), False),
        (VALID_UNTIL + timedelta(seconds=1), False),
    ],
)
async def test_certificate_must_be_valid_now(signer: SnsSigner, now: datetime, *, good: bool) -> None:
    verifier = SnsSignatureVerifier(StaticFetcher({CERT_URL: signer.pem}), clock=FixedClock(now))
    envelope = signer.sign(notification())
    if good:
        await verifier.verify(envelope)
    else:
        assert await refused(verifier, envelope) == "bad_certificate"


async def test_a_cached_certificate_expires_too(signer: SnsSigner) -> None:
    clock = FixedClock(NOW)
    verifier = SnsSignatureVerifier(StaticFetcher({CERT_URL: signer.pem}), clock=clock)
    await verifier.verify(signer.sign(notification()))
    clock.at = VALID_UNTIL + timedelta(days=1)
    assert await refused(verifier, signer.sign(notification())) == "bad_certificate"


async def test_certificate_subject_is_not_pinned() -> None:
    # Trust comes from the host the certificate was fetched from, not from its name (see the module).
    key = rsa_key()
    certificate = self_signed_certificate(key, common_name="anything")
    other = SnsSigner(key, certificate)
    verifier = SnsSignatureVerifier(StaticFetcher({CERT_URL: other.pem}), clock=FixedClock(NOW))
    await verifier.verify(other.sign(notification()))


# the cache


async def test_certificate_is_fetched_once_per_url(
    verifier: SnsSignatureVerifier, fetcher: StaticFetcher, signer: SnsSigner
) -> None:
    await verifier.verify(signer.sign(notification(message_id="a")))
    await verifier.verify(signer.sign(confirmation(), "2"))
    assert fetcher.calls == [CERT_URL]


async def test_cache_is_bounded_and_keeps_the_recently_used(signer: SnsSigner) -> None:
    urls = [f"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{n:02x}.pem" for n in range(3)]
    fetcher = StaticFetcher(dict.fromkeys(urls, signer.pem))
    verifier = SnsSignatureVerifier(fetcher, clock=FixedClock(NOW), cache_size=2)

    async def verify_with(url: str) -> None:
        await verifier.verify(dataclasses.replace(signer, cert_url=url).sign(notification()))

    for url in (urls[0], urls[1], urls[0], urls[2], urls[0], urls[1]):
        await verify_with(url)
    # 0 miss, 1 miss, 0 hit, 2 miss (evicts 1, least recent), 0 hit, 1 miss again.
    assert fetcher.calls == [urls[0], urls[1], urls[2], urls[1]]


async def test_a_bad_certificate_is_not_cached(signer: SnsSigner) -> None:
    fetcher = StaticFetcher({CERT_URL: b"garbage"})
    verifier = SnsSignatureVerifier(fetcher, clock=FixedClock(NOW))
    assert await refused(verifier, signer.sign(notification())) == "bad_certificate"
    fetcher.bodies[CERT_URL] = signer.pem
    await verifier.verify(signer.sign(notification()))


# any text SNS may carry


@settings(max_examples=40, deadline=None)
@given(
    message=st.text(),
    subject=st.none() | st.text(),
    flip=st.integers(min_value=0),
    version=st.sampled_from(["1", "2"]),
)
def test_any_text_round_trips_and_any_change_to_it_is_refused(
    message: str, subject: str | None, flip: int, version: str
) -> None:
    signer = SnsSigner.make()
    verifier = SnsSignatureVerifier(StaticFetcher({CERT_URL: signer.pem}), clock=FixedClock(NOW))
    envelope = signer.sign(notification(message, subject=subject), version)
    asyncio.run(verifier.verify(envelope))
    tampered = (
        message + "x" if not message else message[: flip % len(message)] + message[flip % len(message) + 1 :]
    )
    with pytest.raises(ReadError):
        asyncio.run(verifier.verify(dataclasses.replace(envelope, message=tampered)))
