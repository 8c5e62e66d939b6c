"""Sign SNS envelopes the way SNS does, with a key and self-signed certificate made on the spot.

For tests and the demo only: production never signs. `SnsSigner` holds one RSA key and its
certificate; `sign()` fills an envelope's SignatureVersion, Signature and SigningCertURL; `envelope_json()`
renders an envelope as the JSON body SNS puts on an SQS queue; `StaticFetcher` serves the certificate to a
verifier without any network.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from bounced.core.model import SnsEnvelope
from bounced.ingest.signature import string_to_sign

CERT_URL = (
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem"
)
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:ses-bounces"
# Certificates made here are valid from here on for ten years; tests that check validity pick "now"
# relative to these.
VALID_FROM = datetime(2024, 1, 1, tzinfo=UTC)
VALID_UNTIL = VALID_FROM + timedelta(days=3650)

_HASHES: dict[str, hashes.HashAlgorithm] = {
    "1": hashes.SHA1(),  # noqa: S303 (SNS SignatureVersion 1 is SHA1withRSA)
    "2": hashes.SHA256(),
}


@functools.cache
def rsa_key(name: str = "sns") -> rsa.RSAPrivateKey:
    """An RSA key, one per name per process (generating one costs tens of milliseconds)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def self_signed_certificate(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    *,
    common_name: str = "sns.amazonaws.com",
    not_before: datetime = VALID_FROM,
    not_after: datetime = VALID_UNTIL,
    subject_alt_names: tuple[x509.GeneralName, ...] = (),
) -> x509.Certificate:
    """A self-signed certificate for `key`, like the ones SNS publishes (CN=sns.amazonaws.com)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if subject_alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(subject_alt_names)), critical=False)
    return builder.sign(key, hashes.SHA256())


def pem(certificate: x509.Certificate) -> bytes:
    """The certificate as PEM bytes, as SNS serves it."""
    return certificate.public_bytes(serialization.Encoding.PEM)


@dataclasses.dataclass(frozen=True)
class SnsSigner:
    """One signing identity: a key, its certificate, and the URL the certificate is said to live at."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    cert_url: str = CERT_URL

    @classmethod
    def make(cls, name: str = "sns", cert_url: str = CERT_URL) -> SnsSigner:
        """A signer with the named cached key and a fresh self-signed certificate."""
        key = rsa_key(name)
        return cls(key, self_signed_certificate(key), cert_url)

    @property
    def pem(self) -> bytes:
        """The certificate as PEM."""
        return pem(self.certificate)

    def sign(self, envelope: SnsEnvelope, version: str = "1") -> SnsEnvelope:
        """`envelope` with SignatureVersion, Signature and SigningCertURL set as SNS would."""
        signature = self.key.sign(string_to_sign(envelope), padding.PKCS1v15(), _HASHES[version])
        return dataclasses.replace(
            envelope,
            signature_version=version,
            signature=base64.b64encode(signature).decode("ascii"),
            signing_cert_url=self.cert_url,
        )


class StaticFetcher:
    """A `CertificateFetcher` serving fixed bodies by URL, counting calls; raises `error` if set."""

    def __init__(self, bodies: dict[str, bytes], error: Exception | None = None) -> None:
        self.bodies = bodies
        self.error = error
        self.calls: list[str] = []

    async def fetch(self, url: str) -> bytes:
        """The body for `url` (KeyError for an unknown one: a test bug)."""
        self.calls.append(url)
        if self.error is not None:
            raise self.error
        return self.bodies[url]


def notification(
    message: str = '{"notificationType":"Bounce"}',
    *,
    subject: str | None = None,
    message_id: str = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
    timestamp: str = "2024-05-01T12:00:00.000Z",
    topic_arn: str = TOPIC_ARN,
) -> SnsEnvelope:
    """An unsigned SNS Notification envelope."""
    return SnsEnvelope(
        type="Notification",
        message_id=message_id,
        topic_arn=topic_arn,
        message=message,
        timestamp=timestamp,
        subject=subject,
        unsubscribe_url=f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic_arn}:1",
    )


def confirmation(type_: str = "SubscriptionConfirmation", *, topic_arn: str = TOPIC_ARN) -> SnsEnvelope:
    """An unsigned SubscriptionConfirmation or UnsubscribeConfirmation envelope."""
    token = "2336412f37fb687f5d51e6e2425c464de12884ee4d3bac3b0e2f4c8a2d6b7e1f"
    return SnsEnvelope(
        type=type_,
        message_id="165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        topic_arn=topic_arn,
        message=f"You have chosen to subscribe to the topic {topic_arn}.",
        timestamp="2024-05-01T12:00:00.000Z",
        subscribe_url=f"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic_arn}&Token={token}",
        token=token,
    )


_JSON_NAMES = {
    "type": "Type",
    "message_id": "MessageId",
    "topic_arn": "TopicArn",
    "message": "Message",
    "timestamp": "Timestamp",
    "signature_version": "SignatureVersion",
    "signature": "Signature",
    "signing_cert_url": "SigningCertURL",
    "subject": "Subject",
    "subscribe_url": "SubscribeURL",
    "token": "Token",
    "unsubscribe_url": "UnsubscribeURL",
}


def envelope_json(envelope: SnsEnvelope) -> str:
    """The envelope as the JSON body SNS delivers to SQS (absent fields left out)."""
    fields = {
        _JSON_NAMES[field.name]: getattr(envelope, field.name)
        for field in dataclasses.fields(envelope)
        if getattr(envelope, field.name) is not None
    }
    return json.dumps(fields)
