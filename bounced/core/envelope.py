"""Bytes to JSON, and the envelope around an SES record when there is one: SNS or EventBridge.

`read_document(body)` turns one SQS message body into the SNS envelope (None for raw message delivery
and EventBridge), the EventBridge event's fields (when the body is one: auto-detected by its
`detail-type`), and the SES document as a dict. Decoding is strict: UTF-8 only,
standard JSON only (no NaN/Infinity), nesting bounded before the decoder runs so absurd nesting is
a `ReadError("too_deep")` rather than a RecursionError, and every string bounced keeps must be
storable (no lone surrogates). Signature verification is not done here: `SnsEnvelope` carries the
exact strings SNS signed, for `bounced.ingest.signature`.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import orjson

from bounced.core.model import EventBridgeEnvelope, ReadError, SnsEnvelope

# SQS accepts bodies up to 1 MiB; anything larger did not come from SQS.
MAX_BODY_OCTETS = 1024 * 1024
# Real SES documents nest about 5 deep; 32 leaves room for fields SES has yet to invent.
MAX_DEPTH = 32

SNS_TYPES = frozenset({"Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"})

# The field that tells an EventBridge event from a raw SES record (which has no hyphenated keys).
DETAIL_TYPE = "detail-type"
# The only EventBridge source bounced reads; anything else on its queue is `source_not_allowed`.
SES_SOURCE = "aws.ses"
# The `detail-type` of each SES event-publishing record on EventBridge, and the record's eventType.
DETAIL_TYPES = {
    "Email Sent": "Send",
    "Email Delivered": "Delivery",
    "Email Bounced": "Bounce",
    "Email Complaint Received": "Complaint",
    "Email Rejected": "Reject",
    "Email Opened": "Open",
    "Email Clicked": "Click",
    "Email Rendering Failed": "Rendering Failure",
    "Email Delivery Delayed": "DeliveryDelay",
    "Email Subscribed": "Subscription",
}

# JSON strings (with their escapes) are removed before brackets are counted: brackets inside
# strings, such as the SES JSON inside an SNS Message, do not nest.
# Possessive and with an optional closing quote, so an unterminated string costs one linear
# pass instead of a retry from every later quote.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*+"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
# A `\u` escape: on bodies full of `\"` a regex finds it faster than `bytes.__contains__`.
_ESCAPE = re.compile(rb"\\u")
_OPENERS = frozenset("[{")


class Read(NamedTuple):
    """What `read_document` found in one body."""

    envelope: SnsEnvelope | None  # None for raw message delivery and EventBridge
    document: dict[str, Any]  # the SES document ({} for SNS confirmations)
    text: str  # the SES JSON text (the SNS Message, the EventBridge detail, or the whole raw body)
    # True when the body holds a `\u` escape. Without one, no decoded string can hold a NUL or a
    # lone surrogate (strict UTF-8 and strict JSON rule out both), so per-field checks are skipped.
    escaped: bool
    eventbridge: EventBridgeEnvelope | None = None  # when the body is an EventBridge event


def read_document(body: bytes) -> Read:
    """The SNS envelope (None when raw), the SES document and the SES JSON text it came from.

    Raises `ReadError` for anything that is not a well-formed SQS body from SNS or SES."""
    if len(body) > MAX_BODY_OCTETS:
        raise ReadError("too_large", f"body of {len(body)} octets exceeds {MAX_BODY_OCTETS}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReadError("invalid_utf8", f"body is not UTF-8 at octet {exc.start}") from None
    escaped = _ESCAPE.search(body) is not None
    # Every bracket counts, those inside the SNS Message string too: when the count is within the
    # limit, neither the body nor (lacking escapes that could make brackets) the Message nests deeper.
    bounded = len(body) - len(body.translate(None, b"{[")) <= MAX_DEPTH
    if not bounded:
        check_depth(text)
    outer = _loads(text, "body")
    if "Type" not in outer:
        if DETAIL_TYPE in outer:
            return _read_eventbridge(outer, escaped=escaped)
        return Read(None, outer, text, escaped)
    envelope = read_envelope(outer, escaped=escaped)
    if envelope.type != "Notification":
        return Read(envelope, {}, envelope.message, escaped)
    if escaped or not bounded:
        check_depth(envelope.message, what="SNS Message")
    return Read(envelope, _loads(envelope.message, "SNS Message"), envelope.message, escaped)


def loads_object(text: str, *, what: str = "body") -> dict[str, Any]:
    """`text` parsed as a JSON object, within the nesting limit; `ReadError` otherwise."""
    check_depth(text, what=what)
    return _loads(text, what)


def _loads(text: str, what: str) -> dict[str, Any]:
    """orjson, for speed: it decodes a notification in about a third of the stdlib's time (the
    largest single cost of reading one). It is strict where bounced wants strictness: NaN and
    Infinity, lone surrogates and numbers beyond a double are invalid JSON."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ReadError("invalid_json", f"{what} is not JSON: {_first_line(exc)}") from None
    if not isinstance(value, dict):
        raise ReadError("not_an_object", f"{what} is JSON {type(value).__name__}, not an object")
    return value


def check_depth(text: str, *, what: str = "body") -> None:
    """Raise `ReadError("too_deep")` when `text` nests brackets deeper than `MAX_DEPTH`.

    Counting every opener is a C-speed upper bound that settles realistic bodies; only a body
    with many brackets pays for the exact scan, which skips brackets inside strings."""
    if text.count("{") + text.count("[") <= MAX_DEPTH:
        return
    depth = 0
    for char in _brackets_outside_strings(text):
        if char in _OPENERS:
            depth += 1
            if depth > MAX_DEPTH:
                raise ReadError("too_deep", f"{what} nests deeper than {MAX_DEPTH}")
        else:
            depth -= 1


def _brackets_outside_strings(text: str) -> str:
    return _NOT_BRACKET.sub("", _STRING.sub("", text))


def read_envelope(outer: dict[str, Any], *, escaped: bool = True) -> SnsEnvelope:
    """The SNS envelope fields, verbatim; `ReadError` when the envelope is malformed.

    `escaped=False` promises the JSON had no `\\u` escapes (see `Read.escaped`)."""
    sns_type = outer["Type"]
    if not isinstance(sns_type, str):
        raise ReadError("bad_field", "Type is not a string")
    if sns_type not in SNS_TYPES:
        raise ReadError("unknown_type", f"unknown SNS Type {sns_type[:64]!r}")
    envelope = SnsEnvelope(
        type=sns_type,
        message_id=_required(outer, "MessageId"),
        topic_arn=_required(outer, "TopicArn"),
        message=_required(outer, "Message"),
        timestamp=_required(outer, "Timestamp"),
        signature_version=_optional(outer, "SignatureVersion"),
        signature=_optional(outer, "Signature"),
        signing_cert_url=_optional(outer, "SigningCertURL"),
        subject=_optional(outer, "Subject"),
        subscribe_url=_optional(outer, "SubscribeURL"),
        token=_optional(outer, "Token"),
        unsubscribe_url=_optional(outer, "UnsubscribeURL"),
    )
    if escaped:
        for name in _ENVELOPE_FIELDS:
            value = getattr(envelope, name)
            if value is not None and not storable(value):
                raise ReadError("bad_field", f"SNS envelope {name} holds a NUL or a lone surrogate")
    return envelope


_ENVELOPE_FIELDS = tuple(SnsEnvelope.__slots__)


def _read_eventbridge(outer: dict[str, Any], *, escaped: bool) -> Read:
    """An EventBridge event: its fields, and its `detail` as the SES document. The detail is kept as
    compact JSON: the same record put twice (under two event ids) is one payload, recorded once."""
    event = read_eventbridge(outer, escaped=escaped)
    detail = outer.get("detail")
    if detail is None:
        raise ReadError("missing_field", "EventBridge event has no detail")
    if not isinstance(detail, dict):
        raise ReadError("bad_field", "EventBridge detail is not an object")
    _check_event_type(event.detail_type, detail)
    return Read(None, detail, orjson.dumps(detail).decode(), escaped, event)


def read_eventbridge(outer: dict[str, Any], *, escaped: bool = True) -> EventBridgeEnvelope:
    """The EventBridge event's fields, verbatim; `ReadError` when malformed, `source_not_allowed`
    when it is not from SES, `unknown_type` when it is no SES email event."""
    source = _required(outer, "source", "EventBridge event")
    if source != SES_SOURCE:
        raise ReadError("source_not_allowed", f"EventBridge source {source[:64]!r} is not {SES_SOURCE!r}")
    event = EventBridgeEnvelope(
        event_id=_required(outer, "id", "EventBridge event"),
        source=source,
        detail_type=_required(outer, DETAIL_TYPE, "EventBridge event"),
        account=_optional(outer, "account", "EventBridge event"),
        time=_optional(outer, "time", "EventBridge event"),
        region=_optional(outer, "region", "EventBridge event"),
    )
    if escaped:
        for name in _EVENTBRIDGE_FIELDS:
            value = getattr(event, name)
            if value is not None and not storable(value):
                raise ReadError("bad_field", f"EventBridge {name} holds a NUL or a lone surrogate")
    if event.detail_type not in DETAIL_TYPES:
        raise ReadError(
            "unknown_type", f"EventBridge detail-type {event.detail_type[:64]!r} is no SES email event"
        )
    return event


_EVENTBRIDGE_FIELDS = tuple(EventBridgeEnvelope.__slots__)


def _check_event_type(detail_type: str, detail: dict[str, Any]) -> None:
    """The detail-type and the record's own eventType must say the same thing (when it has one: a
    record without is `missing_type` in the parser)."""
    event_type = detail.get("eventType")
    if isinstance(event_type, str) and event_type != DETAIL_TYPES[detail_type]:
        raise ReadError(
            "bad_field", f"detail-type {detail_type!r} does not match eventType {event_type[:64]!r}"
        )


def _required(outer: dict[str, Any], key: str, what: str = "SNS envelope") -> str:
    value = outer.get(key)
    if isinstance(value, str):
        return value
    if value is None:
        raise ReadError("missing_field", f"{what} has no {key}")
    raise ReadError("bad_field", f"{what} {key} is not a string")


def _optional(outer: dict[str, Any], key: str, what: str = "SNS envelope") -> str | None:
    value = outer.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ReadError("bad_field", f"{what} {key} is not a string")


def storable(value: str) -> bool:
    """True when PostgreSQL can store `value` as text: no NUL, no lone surrogate."""
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _first_line(exc: ValueError) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


__all__ = [
    "DETAIL_TYPES",
    "MAX_DEPTH",
    "SES_SOURCE",
    "SNS_TYPES",
    "Read",
    "check_depth",
    "loads_object",
    "read_document",
    "read_envelope",
    "read_eventbridge",
    "storable",
]
