"""One SQS message body in, one typed `Notification` out, or a `ReadError` saying why not.

Accepts SNS-wrapped bodies, EventBridge events (the SES record is the event's `detail`) and raw
bodies, and both SES shapes: identity notifications
(`notificationType`) and configuration-set event publishing (`eventType`). Recipients come only
from the notification's own list (`bouncedRecipients`, `complainedRecipients`,
`delivery.recipients`, `deliveryDelay.delayedRecipients`), never from `mail.destination`. A
recipient entry that cannot be read (not an object, no address, an address that is not one, a DSN
field of the wrong type) does not spoil the others: it is left out and named in
`Notification.unreadable_recipients`. Only when no recipient is readable is the message bad (with the
first entry's code). Unknown fields are ignored; a known field of the wrong JSON type is `bad_field`.

`ReadError.code` is one of (stable: metric labels and the quarantine's reason):

=================  ============================================================================
too_large          the body exceeds 1 MiB (SQS's own limit)
invalid_utf8       the body is not UTF-8
invalid_json       the body, or the SNS Message, is not (standard) JSON
too_deep           JSON nested deeper than `bounced.core.envelope.MAX_DEPTH`
not_an_object      the top level is not a JSON object
missing_type       neither `eventType` nor `notificationType` (nor an SNS `Type`)
unknown_type       a type bounced does not know (SNS `Type`, EventBridge `detail-type`, SES event or
                   notification type)
source_not_allowed an EventBridge event whose `source` is not `aws.ses`
missing_field      a required field is absent (`mail`, `mail.messageId`, `bounce.bounceType`, ...)
bad_field          a known field has the wrong JSON type, or holds a NUL or a lone surrogate
no_recipients      a bounce, complaint, delivery or delivery delay with no recipient
bad_address        a recipient that is not an e-mail address (see `bounced.core.addresses`)
=================  ============================================================================

Timestamps never reject a message: `bounced.core.timing` settles which one a notification is ordered by,
given when it reached SQS (`arrival`).

`bounced.ingest.reader` adds `topic_not_allowed`, `account_not_allowed` and `unsigned_body`, signature
verification its own codes, and `bounced.ingest.reader` `receive_count_exceeded` and `internal_error`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bounced.core.addresses import normalise_address
from bounced.core.envelope import Read, read_document, storable
from bounced.core.model import Kind, Notification, ReadError, Recipient, TimeSource
from bounced.core.timing import TIME_UNKNOWN, Arrival, Timing, settle

# What a notification says besides its recipients: keyword arguments for `Notification`.
Extras = dict[str, str | None]
# The recipients read from a payload's list, and a description of each entry that could not be read.
Recipients = tuple[tuple[Recipient, ...], tuple[str, ...]]
# A payload reader: the payload object -> (recipients, extras, the payload's own timestamp).
Reader = Callable[[dict[str, Any]], tuple[Recipients, Extras, object]]

__all__ = ["TIME_UNKNOWN", "parse_body"]

# Enum members read once per notification, bound here: Python 3.11 does not specialise attribute
# loads on a class, and four of them cost about 0.3 us, 2 % of reading a notification.
_FEEDBACK, _MAIL, _ENVELOPE = TimeSource.FEEDBACK, TimeSource.MAIL, TimeSource.ENVELOPE
_SES_CONFIRMATION = Kind.SUBSCRIPTION_CONFIRMATION


def parse_body(body: bytes, arrival: Arrival | None = None) -> Notification:
    """The notification in one SQS message body; raises only `ReadError`. `arrival`: when the message
    reached SQS (its SentTimestamp), which bounds the times it may claim (see `bounced.core.timing`); the
    daemon and the commands always give it, None is for a body read on its own."""
    read = read_document(body)
    envelope = read.envelope
    if envelope is not None and envelope.type != "Notification":
        timing = settle([(TimeSource.ENVELOPE, envelope.timestamp)], arrival)
        return _notification(read, Kind.SUBSCRIPTION_CONFIRMATION, timing)
    notification = _parse_ses(read, arrival)
    if read.escaped:
        _check_storable(notification)
    return notification


def _check_storable(notification: Notification) -> None:
    """Only a body with `\\u` escapes can hide a NUL or a lone surrogate in a string we keep."""
    fields: list[str | None] = [
        notification.ses_message_id,
        notification.feedback_id,
        notification.bounce_type,
        notification.bounce_subtype,
        notification.complaint_feedback_type,
        notification.complaint_subtype,
        notification.delay_type,
        notification.payload,
    ]
    for recipient in notification.recipients:
        fields += (recipient.dsn_action, recipient.dsn_status, recipient.diagnostic_code)
    if not all(value is None or storable(value) for value in fields):
        raise ReadError("bad_field", "a field holds a NUL or a lone surrogate")


def _envelope_time(read: Read) -> tuple[TimeSource, str | None]:
    """The envelope's time: the SNS Timestamp or the EventBridge `time`."""
    if read.envelope is not None:
        return _ENVELOPE, read.envelope.timestamp
    return _ENVELOPE, read.eventbridge.time if read.eventbridge else None


def _parse_ses(read: Read, arrival: Arrival | None) -> Notification:
    document = read.document
    kind, payload_key = _kind_of(document)
    envelope_time = _envelope_time(read)
    if kind is _SES_CONFIRMATION:  # SES's "subscription succeeded" note: no mail
        return _notification(read, kind, settle([envelope_time], arrival))
    mail = _object(document.get("mail"), "mail", required=True)
    body = _object(document.get(payload_key), payload_key, required=kind in _RECIPIENT_KINDS)
    (recipients, unreadable), extras, own_time = _READERS[kind](body) if body else (((), ()), {}, None)
    if kind in _RECIPIENT_KINDS and not recipients:
        raise ReadError("no_recipients", f"{payload_key} lists no recipients")
    candidates = [(_FEEDBACK, own_time), (_MAIL, mail.get("timestamp")), envelope_time]
    return _notification(
        read,
        kind,
        settle(candidates, arrival),
        recipients=recipients,
        ses_message_id=_required_text(mail, "messageId", "mail"),
        unreadable_recipients=unreadable,
        **extras,
    )


def _notification(read: Read, kind: Kind, timing: Timing, **fields: Any) -> Notification:
    """The notification in `read`, of `kind`, at `timing`, with `fields`."""
    return Notification(
        kind=kind,
        recipients=fields.pop("recipients", ()),
        envelope=read.envelope,
        eventbridge=read.eventbridge,
        payload=read.text,
        occurred_at=timing.occurred_at,
        time_source=timing.source,
        claimed_time=timing.claimed,
        **fields,
    )


def _kind_of(document: dict[str, Any]) -> tuple[Kind, str]:
    """The kind and the payload object's key, from `eventType` or `notificationType`."""
    name = document.get("eventType")
    table = _EVENT_TYPES
    if name is None:
        name = document.get("notificationType")
        table = _NOTIFICATION_TYPES
    if name is None:
        raise ReadError("missing_type", "neither eventType nor notificationType")
    if not isinstance(name, str):
        raise ReadError("bad_field", "eventType/notificationType is not a string")
    found = table.get(name)
    if found is None:
        raise ReadError("unknown_type", f"unknown SES type {name[:64]!r}")
    return found


# -- field helpers -------------------------------------------------------------------------------


def _object(value: object, field: str, *, required: bool) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if value is None:
        if required:
            raise ReadError("missing_field", f"no {field} object")
        return {}
    raise ReadError("bad_field", f"{field} is not an object")


def _text(obj: dict[str, Any], key: str, where: str) -> str | None:
    """A string field, or None when absent or null."""
    value = obj.get(key)
    if isinstance(value, str):
        return value
    if value is None:
        return None
    raise ReadError("bad_field", f"{where}.{key} is not a string")


def _required_text(obj: dict[str, Any], key: str, where: str) -> str:
    value = _text(obj, key, where)
    if value is None:
        raise ReadError("missing_field", f"no {where}.{key}")
    return value


def _list(obj: dict[str, Any], key: str, where: str) -> list[Any]:
    value = obj.get(key)
    if isinstance(value, list):
        return value
    if value is None:
        return []
    raise ReadError("bad_field", f"{where}.{key} is not a list")


def _unique(recipients: list[Recipient]) -> tuple[Recipient, ...]:
    """Recipients in order, each address once (the first mention wins)."""
    if len(recipients) == 1:
        return (recipients[0],)
    seen: dict[str, Recipient] = {}
    for recipient in recipients:
        seen.setdefault(recipient.address, recipient)
    return tuple(seen.values())


def _each_recipient(items: list[Any], read: Callable[[Any], Recipient]) -> Recipients:
    """`read` applied to each entry: the recipients read (each address once) and a description of
    each entry that could not be. With none readable, the first entry's `ReadError` (alone, as
    raised; with others, naming them all)."""
    recipients: list[Recipient] = []
    failures: list[tuple[ReadError, str]] = []
    for item in items:
        try:
            recipients.append(read(item))
        except ReadError as exc:
            failures.append((exc, describe_unreadable(item, exc)))
    if not failures:
        return _unique(recipients), ()
    if not recipients:
        first = failures[0][0]
        if len(failures) == 1:
            raise first
        raise ReadError(first.code, f"no recipient is readable: {'; '.join(d for _, d in failures)}"[:2000])
    return _unique(recipients), tuple(description for _, description in failures)


# How much of an unreadable value a description quotes.
_QUOTED_CHARACTERS = 100


def describe_unreadable(item: object, error: ReadError) -> str:
    """One unreadable recipient entry and what is wrong with it, in ASCII (storable, printable):
    the address (or entry) quoted with escapes, cut at 100 characters."""
    value = item.get("emailAddress") if isinstance(item, dict) else item
    if isinstance(value, str):
        quoted = ascii(value[:_QUOTED_CHARACTERS]) + ("..." if len(value) > _QUOTED_CHARACTERS else "")
    else:
        quoted = f"a {type(item).__name__} entry"
    return f"{quoted} ({error.detail[:200]})"


def _dsn_recipients(items: list[Any], where: str) -> Recipients:
    """Recipient objects with `emailAddress` and, when a DSN came back, its action/status/text."""

    def read(item: Any) -> Recipient:
        if not isinstance(item, dict):
            raise ReadError("bad_field", f"{where} holds a {type(item).__name__}, not an object")
        return Recipient(
            address=normalise_address(_required_text(item, "emailAddress", where)),
            dsn_action=_text(item, "action", where),
            dsn_status=_text(item, "status", where),
            diagnostic_code=_text(item, "diagnosticCode", where),
        )

    return _each_recipient(items, read)


# -- payload readers -----------------------------------------------------------------------------


def _read_bounce(bounce: dict[str, Any]) -> tuple[Recipients, Extras, object]:
    recipients = _dsn_recipients(_list(bounce, "bouncedRecipients", "bounce"), "bounce.bouncedRecipients")
    extras: Extras = {
        "bounce_type": _required_text(bounce, "bounceType", "bounce"),
        "bounce_subtype": _text(bounce, "bounceSubType", "bounce"),
        "feedback_id": _text(bounce, "feedbackId", "bounce"),
    }
    return recipients, extras, bounce.get("timestamp")


def _read_complaint(complaint: dict[str, Any]) -> tuple[Recipients, Extras, object]:
    where = "complaint.complainedRecipients"

    def read(item: Any) -> Recipient:
        if not isinstance(item, dict):
            raise ReadError("bad_field", f"{where} holds a {type(item).__name__}, not an object")
        return Recipient(address=normalise_address(_required_text(item, "emailAddress", where)))

    recipients = _each_recipient(_list(complaint, "complainedRecipients", "complaint"), read)
    extras: Extras = {
        "complaint_feedback_type": _text(complaint, "complaintFeedbackType", "complaint"),
        "complaint_subtype": _text(complaint, "complaintSubType", "complaint"),
        "feedback_id": _text(complaint, "feedbackId", "complaint"),
    }
    return recipients, extras, complaint.get("timestamp")


def _read_delivery(delivery: dict[str, Any]) -> tuple[Recipients, Extras, object]:
    def read(item: Any) -> Recipient:
        if not isinstance(item, str):
            raise ReadError("bad_field", "delivery.recipients holds a non-string")
        return Recipient(address=normalise_address(item))

    return _each_recipient(_list(delivery, "recipients", "delivery"), read), {}, delivery.get("timestamp")


def _read_delay(delay: dict[str, Any]) -> tuple[Recipients, Extras, object]:
    where = "deliveryDelay.delayedRecipients"
    recipients = _dsn_recipients(_list(delay, "delayedRecipients", "deliveryDelay"), where)
    return recipients, {"delay_type": _text(delay, "delayType", "deliveryDelay")}, delay.get("timestamp")


def _read_other(payload: dict[str, Any]) -> tuple[Recipients, Extras, object]:
    """Send, Reject, Open, Click, Rendering Failure, Subscription: no recipients of their own."""
    return ((), ()), {}, payload.get("timestamp")


_RECIPIENT_KINDS = frozenset({Kind.BOUNCE, Kind.COMPLAINT, Kind.DELIVERY, Kind.DELIVERY_DELAY})

_READERS: dict[Kind, Reader] = {
    Kind.BOUNCE: _read_bounce,
    Kind.COMPLAINT: _read_complaint,
    Kind.DELIVERY: _read_delivery,
    Kind.DELIVERY_DELAY: _read_delay,
    Kind.SEND: _read_other,
    Kind.REJECT: _read_other,
    Kind.OPEN: _read_other,
    Kind.CLICK: _read_other,
    Kind.RENDERING_FAILURE: _read_other,
    Kind.SUBSCRIPTION: _read_other,
}

_NOTIFICATION_TYPES: dict[str, tuple[Kind, str]] = {
    "Bounce": (Kind.BOUNCE, "bounce"),
    "Complaint": (Kind.COMPLAINT, "complaint"),
    "Delivery": (Kind.DELIVERY, "delivery"),
    # SES publishes this once to a topic it was just told to notify; it carries no mail.
    "AmazonSnsSubscriptionSucceeded": (Kind.SUBSCRIPTION_CONFIRMATION, "message"),
}

_EVENT_TYPES: dict[str, tuple[Kind, str]] = {
    "Bounce": (Kind.BOUNCE, "bounce"),
    "Complaint": (Kind.COMPLAINT, "complaint"),
    "Delivery": (Kind.DELIVERY, "delivery"),
    "Send": (Kind.SEND, "send"),
    "Reject": (Kind.REJECT, "reject"),
    "Open": (Kind.OPEN, "open"),
    "Click": (Kind.CLICK, "click"),
    "Rendering Failure": (Kind.RENDERING_FAILURE, "failure"),
    "DeliveryDelay": (Kind.DELIVERY_DELAY, "deliveryDelay"),
    "Subscription": (Kind.SUBSCRIPTION, "subscription"),
}
