"""Realistic SES feedback bodies (2-3 KB each) for the load source, as SQS would carry them.

A stand-in until `bounced.samples` (the shared builders of realistic SES JSON) is merged: then the
load source should build its bodies from there. Each body is one SES notification (identity
notification format or configuration-set event format), either wrapped in an SNS envelope (with a
signature field of realistic size that nothing can verify) or raw. Feedback ids and addresses are
unique per body, so a consumer's idempotency never collapses two bodies into one row.
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

REGION = "us-east-1"
ACCOUNT = "123456789012"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:ses-feedback"
SENDER = "news@mail.example.com"

# (kind, bounce type, bounce subtype, weight): roughly what a healthy sender's feedback looks like.
MIX: tuple[tuple[str, str | None, str | None, int], ...] = (
    ("Bounce", "Permanent", "General", 14),
    ("Bounce", "Permanent", "NoEmail", 8),
    ("Bounce", "Permanent", "Suppressed", 5),
    ("Bounce", "Permanent", "OnAccountSuppressionList", 2),
    ("Bounce", "Transient", "General", 5),
    ("Bounce", "Transient", "MailboxFull", 6),
    ("Bounce", "Transient", "MessageTooLarge", 1),
    ("Bounce", "Transient", "ContentRejected", 1),
    ("Bounce", "Transient", "AttachmentRejected", 1),
    ("Bounce", "Undetermined", "Undetermined", 2),
    ("Complaint", None, None, 15),
    ("Delivery", None, None, 40),
)

DIAGNOSTICS = {
    "General": ("5.1.1", "smtp; 550 5.1.1 <{a}>: Recipient address rejected: User unknown in virtual table"),
    "NoEmail": ("5.1.2", "smtp; 550 5.1.2 Host unknown (Name server: example.net: host not found)"),
    "Suppressed": (
        "5.1.1",
        "Amazon SES has suppressed sending to this address because it has a recent "
        "history of bouncing as an invalid address.",
    ),
    "OnAccountSuppressionList": (
        "5.1.1",
        "Amazon SES did not send the message to this address because "
        "it is on the suppression list for your account.",
    ),
    "MailboxFull": (
        "4.2.2",
        "smtp; 452 4.2.2 The email account that you tried to reach is over quota. "
        "Please direct the recipient to https://support.example.com/mail/?p=OverQuotaTemp",
    ),
    "MessageTooLarge": ("5.3.4", "smtp; 552 5.3.4 Message size exceeds fixed maximum message size"),
    "ContentRejected": ("5.7.1", "smtp; 550 5.7.1 Message rejected as spam by Content Filtering."),
    "AttachmentRejected": ("5.7.1", "smtp; 550 5.7.1 Attachment type not allowed (.exe)"),
    "Undetermined": ("5.0.0", "smtp; 550 5.0.0 Unrouteable address"),
    "TransientGeneral": ("4.4.7", "smtp; 421 4.4.7 Message expired: unable to deliver in 840 minutes."),
}
DOMAINS = ("example.com", "example.net", "example.org", "mail.example.co.uk", "inbox.example.de")


@dataclass(frozen=True, slots=True)
class Body:
    """One generated SQS body and the facts a benchmark needs about it."""

    text: str
    kind: str  # Bounce, Complaint, Delivery
    bounce_type: str | None
    bounce_subtype: str | None
    address: str
    feedback_id: str
    ses_message_id: str
    occurred_at: datetime
    sns_wrapped: bool


def generate(count: int, seed: int = 7) -> list[Body]:
    """`count` bodies in a fixed mix of kinds, formats and envelopes, reproducible from `seed`."""
    rng = random.Random(seed)
    choices = [(k, t, s) for k, t, s, _ in MIX]
    weights = [w for *_, w in MIX]
    start = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    bodies = []
    for index in range(count):
        kind, btype, subtype = rng.choices(choices, weights)[0]
        when = start + timedelta(seconds=index * 0.7 + rng.random())
        bodies.append(_body(rng, index, kind, btype, subtype, when=when))
    return bodies


def _body(
    rng: random.Random, index: int, kind: str, btype: str | None, subtype: str | None, *, when: datetime
) -> Body:
    address = f"user.{index}.{rng.randrange(10**6):06d}@{rng.choice(DOMAINS)}"
    if rng.random() < 0.05:
        address = address.title()  # some senders keep mixed case; the consumer must normalise
    ses_id = f"0100018f{uuid.UUID(int=rng.getrandbits(128)).hex}-000000"
    feedback_id = f"0100018f{uuid.UUID(int=rng.getrandbits(128)).hex}-000000"
    event_format = rng.random() < 0.5
    mail = _mail(rng, ses_id, address, when - timedelta(seconds=2), event_format)
    payload: dict[str, Any] = {("eventType" if event_format else "notificationType"): kind, "mail": mail}
    payload[kind.lower()] = _detail(kind, btype, subtype, address, feedback_id=feedback_id, when=when)
    message = json.dumps(payload, separators=(",", ":"))
    wrapped = rng.random() < 0.7
    text = _sns(rng, message, when) if wrapped else message
    return Body(text, kind, btype, subtype, address, feedback_id, ses_id, when, wrapped)


def _mail(
    rng: random.Random, ses_id: str, address: str, when: datetime, event_format: bool
) -> dict[str, Any]:
    subject = rng.choice(
        (
            "Your May newsletter",
            f"Order #{rng.randrange(10**6)} has shipped",
            "Weekly digest: 12 new articles",
            "Reset your password",
        )
    )
    stamp = _iso(when)
    headers = [
        {
            "name": "Received",
            "value": f"from app-{rng.randrange(40)}.internal ([10.0.{rng.randrange(255)}.7]) "
            f"by email-smtp.amazonaws.com with SMTP (SimpleEmailService-d-{rng.randrange(10**8)}) id "
            f"{uuid.UUID(int=rng.getrandbits(128)).hex}; {when:%a, %d %b %Y %H:%M:%S} +0000 (UTC)",
        },
        {"name": "From", "value": f"Example News <{SENDER}>"},
        {"name": "To", "value": address},
        {"name": "Subject", "value": subject},
        {"name": "MIME-Version", "value": "1.0"},
        {
            "name": "Content-Type",
            "value": f'multipart/alternative; boundary="----=_Part_{rng.randrange(10**7)}"',
        },
        {
            "name": "List-Unsubscribe",
            "value": f"<https://mail.example.com/u/{uuid.UUID(int=rng.getrandbits(128))}>",
        },
        {"name": "Message-ID", "value": f"<{uuid.UUID(int=rng.getrandbits(128))}@mail.example.com>"},
    ]
    mail: dict[str, Any] = {
        "timestamp": stamp,
        "source": SENDER,
        "sourceArn": f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/mail.example.com",
        "sourceIp": f"203.0.113.{rng.randrange(1, 255)}",
        "callerIdentity": "newsletter-sender",
        "sendingAccountId": ACCOUNT,
        "messageId": ses_id,
        "destination": [address],
        "headersTruncated": False,
        "headers": headers,
        "commonHeaders": {
            "from": [f"Example News <{SENDER}>"],
            "date": f"{when:%a, %d %b %Y %H:%M:%S} +0000",
            "to": [address],
            "messageId": ses_id,
            "subject": subject,
        },
    }
    if event_format:
        mail["tags"] = {
            "ses:configuration-set": ["newsletter"],
            "ses:source-ip": [mail["sourceIp"]],
            "ses:from-domain": ["mail.example.com"],
            "ses:caller-identity": ["newsletter-sender"],
            "campaign": [f"2024-05-{rng.randrange(1, 29):02d}"],
        }
    return mail


def _detail(
    kind: str, btype: str | None, subtype: str | None, address: str, *, feedback_id: str, when: datetime
) -> dict[str, Any]:
    stamp = _iso(when)
    if kind == "Complaint":
        return {
            "complainedRecipients": [{"emailAddress": address}],
            "timestamp": stamp,
            "feedbackId": feedback_id,
            "complaintSubType": None,
            "userAgent": "Yahoo!-Mail-Feedback/2.0",
            "complaintFeedbackType": "abuse",
            "arrivalDate": stamp,
        }
    if kind == "Delivery":
        return {
            "timestamp": stamp,
            "processingTimeMillis": 1204,
            "recipients": [address],
            "smtpResponse": "250 2.0.0 OK  1714550400 d9443c01a7336-1f0b4c5e6d7si12345pla.123 - gsmtp",
            "remoteMtaIp": "198.51.100.25",
            "reportingMTA": "a8-29.smtp-out.amazonses.com",
        }
    key = "TransientGeneral" if (btype, subtype) == ("Transient", "General") else str(subtype)
    status, diagnostic = DIAGNOSTICS[key]
    return {
        "feedbackId": feedback_id,
        "bounceType": btype,
        "bounceSubType": subtype,
        "bouncedRecipients": [
            {
                "emailAddress": address,
                "action": "failed",
                "status": status,
                "diagnosticCode": diagnostic.format(a=address),
            }
        ],
        "timestamp": stamp,
        "remoteMtaIp": "198.51.100.25",
        "reportingMTA": "dsn; a8-29.smtp-out.amazonses.com",
    }


def _sns(rng: random.Random, message: str, when: datetime) -> str:
    envelope = {
        "Type": "Notification",
        "MessageId": str(uuid.UUID(int=rng.getrandbits(128))),
        "TopicArn": TOPIC_ARN,
        "Message": message,
        "Timestamp": _iso(when + timedelta(milliseconds=40)),
        "SignatureVersion": "1",
        "Signature": base64.b64encode(rng.randbytes(256)).decode(),
        "SigningCertURL": f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-"
        f"{uuid.UUID(int=rng.getrandbits(128)).hex}.pem",
        "UnsubscribeURL": f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn="
        f"{TOPIC_ARN}:{uuid.UUID(int=rng.getrandbits(128))}",
    }
    return json.dumps(envelope, separators=(",", ":"))


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
