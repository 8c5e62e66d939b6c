"""The feedback one newsletter campaign gets back, built from `bounced.core.samples` (pure).

Every bounce type and subtype SES documents, complaints of several feedback types, deliveries, two
delivery delays, a duplicate, an out-of-order pair and a poison message. Each item says which topic
it is published to (or, for the poison message, which queue it is sent to directly). Timestamps are
relative to `now`, so the retries it schedules come due in the near future, not in the past.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bounced.core import samples

DOMAIN = "example.org"
POISON_BODY = '{"notificationType": "Bounce", "bounce": {"bounceType": "Permanent", '  # cut short


@dataclass(frozen=True, slots=True)
class Feedback:
    """One message of the campaign: where it goes and its body."""

    label: str  # what it shows, e.g. "Bounce Transient/MailboxFull"
    kind: str  # the topic (or queue) it goes to: bounce, complaint or delivery
    body: str  # the SES JSON (or, for the poison message, what SQS carries)
    addresses: tuple[str, ...]  # the recipients it is about (none for the poison message)
    direct: bool = False  # sent straight to the queue, bypassing SNS


def address(local: str) -> str:
    """A demo address on the reserved example domain."""
    return f"{local}@{DOMAIN}"


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class _Ids:
    """Unique, SES-shaped message and feedback ids per item."""

    run: str

    def message(self, n: int) -> str:
        return f"0100018e{self.run}-{n:08x}-demo-4e0f-a1b2-c3d4e5f6a7b8-000000"

    def feedback(self, n: int) -> str:
        return f"0100018e{self.run}-{n:08x}-feedback-4a7b-8c9d-0e1f2a3b4c5d-000000"


# (local part, bounce type, subtype, DSN status or None, diagnostic)
BOUNCES: tuple[tuple[str, str, str, str | None, str], ...] = (
    ("ada", "Permanent", "General", "5.1.1", "smtp; 550 5.1.1 User unknown"),
    ("bert", "Permanent", "NoEmail", "5.1.1", "smtp; 550 5.1.1 No such mailbox"),
    ("cleo", "Permanent", "Suppressed", None, ""),
    ("dora", "Permanent", "OnAccountSuppressionList", None, ""),
    ("emil", "Transient", "General", "4.4.7", "smtp; 451 4.4.7 Try again later"),
    ("fay", "Transient", "MailboxFull", "5.2.2", "smtp; 552 5.2.2 Mailbox full"),
    ("gus", "Transient", "MessageTooLarge", "5.3.4", "smtp; 552 5.3.4 Message size exceeds limit"),
    ("hana", "Transient", "ContentRejected", "5.7.1", "smtp; 554 5.7.1 Message rejected as spam"),
    ("ivo", "Transient", "AttachmentRejected", "5.7.1", "smtp; 554 5.7.1 Attachment type not allowed"),
    ("jon", "Undetermined", "Undetermined", None, ""),
)
# (local part, complaint feedback type or None when the ISP sent none)
COMPLAINTS: tuple[tuple[str, str | None], ...] = (
    ("kai", "abuse"),
    ("lea", "not-spam"),
    ("max", None),
    ("nia", "fraud"),
    ("oto", "virus"),
)
DELIVERED = ("pia", "quin", "rosa")
# (local part, delay type, DSN status, diagnostic)
DELAYS: tuple[tuple[str, str, str, str], ...] = (
    ("sam", "MailboxFull", "4.2.2", "smtp; 452 4.2.2 Mailbox over quota"),
    ("tess", "InternalFailure", "4.0.0", "Amazon SES internal failure"),
)
OUT_OF_ORDER = "uma"  # a newer delivery arrives first, then an older transient bounce


def campaign(now: datetime, run: str = "0000") -> tuple[Feedback, ...]:
    """The whole campaign; `run` makes its SES ids unique per demo run."""
    ids = _Ids(run)
    sent = now - timedelta(minutes=1)  # every event happened in the last minute
    items: list[Feedback] = []
    items += _bounces(ids, sent)
    items += _complaints(ids, sent, start=100)
    items += _deliveries(ids, sent, start=200)
    items += _delays(ids, sent, start=300)
    items += _out_of_order(ids, sent, n=400)
    items.append(Feedback("Poison message (truncated JSON)", "bounce", POISON_BODY, (), direct=True))
    return tuple(items)


def _bounces(ids: _Ids, sent: datetime) -> list[Feedback]:
    items = []
    for n, (local, bounce_type, subtype, status, diagnostic) in enumerate(BOUNCES):
        document = samples.bounce(
            [address(local)],
            bounce_type=bounce_type,
            subtype=subtype,
            status=status,
            diagnostic=diagnostic or None,
            event=n % 2 == 1,  # both SES formats: identity notifications and event publishing
            message_id=ids.message(n),
            feedback_id=ids.feedback(n),
            timestamp=_ts(sent + timedelta(seconds=n)),
        )
        label = f"Bounce {bounce_type}/{subtype}"
        items.append(Feedback(label, "bounce", samples.dumps(document), (address(local),)))
    # SNS may publish twice and SQS delivers at least once: the same bounce again changes nothing.
    items.append(_duplicate(items[4]))
    return items


def _duplicate(original: Feedback) -> Feedback:
    return Feedback(f"{original.label} (duplicate)", original.kind, original.body, original.addresses)


def _complaints(ids: _Ids, sent: datetime, start: int) -> list[Feedback]:
    items = []
    for n, (local, feedback_type) in enumerate(COMPLAINTS, start):
        document = samples.complaint(
            [address(local)],
            feedback_type=feedback_type,
            message_id=ids.message(n),
            feedback_id=ids.feedback(n),
            timestamp=_ts(sent + timedelta(seconds=20 + n - start)),
        )
        label = f"Complaint {feedback_type or '(no feedback type)'}"
        items.append(Feedback(label, "complaint", samples.dumps(document), (address(local),)))
    return items


def _deliveries(ids: _Ids, sent: datetime, start: int) -> list[Feedback]:
    recipients = tuple(address(local) for local in DELIVERED)
    document = samples.delivery(recipients, message_id=ids.message(start), timestamp=_ts(sent))
    return [Feedback("Delivery (three recipients)", "delivery", samples.dumps(document), recipients)]


def _delays(ids: _Ids, sent: datetime, start: int) -> list[Feedback]:
    items = []
    for n, (local, delay_type, status, diagnostic) in enumerate(DELAYS, start):
        document = samples.delivery_delay(
            [address(local)],
            delay_type=delay_type,
            status=status,
            diagnostic=diagnostic,
            message_id=ids.message(n),
            timestamp=_ts(sent + timedelta(seconds=30)),
        )
        label = f"DeliveryDelay {delay_type}"
        items.append(Feedback(label, "bounce", samples.dumps(document), (address(local),)))
    return items


def _out_of_order(ids: _Ids, sent: datetime, n: int) -> list[Feedback]:
    who = address(OUT_OF_ORDER)
    newer = samples.delivery(
        [who], message_id=ids.message(n + 1), timestamp=_ts(sent + timedelta(seconds=40))
    )
    older = samples.bounce(
        [who],
        bounce_type="Transient",
        subtype="General",
        status="4.4.7",
        diagnostic="smtp; 451 4.4.7 Try again later",
        message_id=ids.message(n),
        feedback_id=ids.feedback(n),
        timestamp=_ts(sent + timedelta(seconds=5)),
    )
    return [
        Feedback("Delivery (newer, arrives first)", "delivery", samples.dumps(newer), (who,)),
        Feedback("Bounce Transient/General (older, arrives last)", "bounce", samples.dumps(older), (who,)),
    ]


def addresses(items: Sequence[Feedback]) -> list[str]:
    """Every address the campaign names, sorted, each once."""
    return sorted({a for item in items for a in item.addresses})
