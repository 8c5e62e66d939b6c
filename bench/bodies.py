"""Realistic SES feedback bodies (2-3 KB each) for the load source, as SQS would carry them.

The SES JSON comes from `bounced.core.samples` (the shared builders the tests and the demo use); this
module only picks a realistic mix of kinds, formats and envelopes and makes every body unique:
its address, SES message id, feedback id and SNS message id, so a consumer's idempotency never
collapses two bodies into one row. About 70 % are SNS-wrapped (with a placeholder signature that
nothing can verify: run bounced with BOUNCED_VERIFY_SIGNATURES=false), the rest raw.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bounced.core import samples

Pick = tuple[str, str | None, str | None]  # (kind, bounce type, bounce subtype)

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
    ("Delivery", None, None, 37),
    ("DeliveryDelay", None, None, 3),
)

# bounce subtype -> (DSN status, diagnostic code); None: SES sends no DSN fields (its own lists).
DIAGNOSTICS: dict[str, tuple[str, str] | None] = {
    "General": ("5.1.1", "smtp; 550 5.1.1 <{a}>: Recipient address rejected: User unknown in virtual table"),
    "NoEmail": ("5.1.2", "smtp; 550 5.1.2 Host unknown (Name server: example.net: host not found)"),
    "Suppressed": None,
    "OnAccountSuppressionList": None,
    "MailboxFull": ("4.2.2", "smtp; 452 4.2.2 The email account that you tried to reach is over quota."),
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
    kind: str  # Bounce, Complaint, Delivery, DeliveryDelay
    address: str
    feedback_id: str | None  # bounces and complaints only, as SES sends it
    ses_message_id: str
    occurred_at: datetime
    sns_wrapped: bool
    ses_json: str  # the SES document (the SNS Message, or the whole raw body)

    @property
    def idempotency_id(self) -> str:
        """The id bounced's audit log keys this body by (with kind and address)."""
        return self.feedback_id or self.ses_message_id


def generate(count: int, seed: int = 7) -> list[Body]:
    """`count` bodies in a fixed mix of kinds, formats and envelopes, reproducible from `seed`."""
    rng = random.Random(seed)
    choices = [(k, t, s) for k, t, s, _ in MIX]
    weights = [w for *_, w in MIX]
    start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    result = []
    for index in range(count):
        pick = rng.choices(choices, weights)[0]
        when = start + timedelta(seconds=index * 0.7 + rng.random())
        result.append(_body(rng, index, pick, when))
    return result


def _uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128)))


def _body(rng: random.Random, index: int, pick: Pick, when: datetime) -> Body:
    kind = pick[0]
    address = f"user.{index}.{rng.randrange(10**6):06d}@{rng.choice(DOMAINS)}"
    if rng.random() < 0.05:
        address = address.title()  # some senders keep mixed case; the consumer must normalise
    ses_id = f"0100018e{_uid(rng).replace('-', '')}-000000"
    feedback_id = f"0100018e{_uid(rng).replace('-', '')}-000000" if kind in ("Bounce", "Complaint") else None
    event = kind == "DeliveryDelay" or rng.random() < 0.5
    ids = {"message_id": ses_id, "timestamp": _iso(when), "event": event}
    document = _document(pick, address, feedback_id, ids)
    ses_json = samples.dumps(document)
    wrapped = rng.random() < 0.7
    text = (
        samples.sns_wrap(ses_json, message_id=_uid(rng), timestamp=_iso(when + timedelta(milliseconds=40)))
        if wrapped
        else ses_json
    )
    return Body(text, kind, address, feedback_id, ses_id, when, wrapped, ses_json)


def _document(pick: Pick, address: str, feedback_id: str | None, ids: dict[str, Any]) -> dict[str, Any]:
    kind, btype, subtype = pick
    if kind == "Complaint":
        return samples.complaint([address], feedback_id=str(feedback_id), **ids)
    if kind == "Delivery":
        return samples.delivery([address], **ids)
    if kind == "DeliveryDelay":
        del ids["event"]  # event publishing only
        return samples.delivery_delay([address], **ids)
    key = "TransientGeneral" if (btype, subtype) == ("Transient", "General") else str(subtype)
    dsn = DIAGNOSTICS[key]
    status, diagnostic = (None, None) if dsn is None else (dsn[0], dsn[1].format(a=address))
    return samples.bounce(
        [address],
        bounce_type=str(btype),
        subtype=str(subtype),
        status=status,
        diagnostic=diagnostic,
        feedback_id=str(feedback_id),
        **ids,
    )


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
