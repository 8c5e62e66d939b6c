from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bounced.core import samples
from bounced.core.model import Kind, ReadError, TimeSource
from bounced.core.parse import TIME_UNKNOWN, parse_body
from bounced.core.timing import Arrival

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ses"

# fixture -> (kind, recipients, fields that must match)
EXPECTED: dict[str, tuple[Kind, tuple[str, ...], dict[str, Any]]] = {
    "notification-bounce-dsn.json": (
        Kind.BOUNCE,
        ("jane@example.com",),
        {
            "bounce_type": "Permanent",
            "bounce_subtype": "General",
            "feedback_id": "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa068a-000000",
        },
    ),
    "notification-bounce-no-dsn.json": (Kind.BOUNCE, ("jane@example.com", "richard@example.com"), {}),
    "notification-complaint-feedback.json": (
        Kind.COMPLAINT,
        ("richard@example.com",),
        {"complaint_feedback_type": "abuse", "complaint_subtype": None},
    ),
    "notification-complaint-no-feedback.json": (
        Kind.COMPLAINT,
        ("richard@example.com",),
        {"complaint_feedback_type": None},
    ),
    "notification-delivery.json": (Kind.DELIVERY, ("jane@example.com",), {"feedback_id": None}),
    "event-bounce.json": (Kind.BOUNCE, ("recipient@example.com",), {"bounce_type": "Permanent"}),
    "event-complaint.json": (
        Kind.COMPLAINT,
        ("recipient@example.com",),
        {"complaint_feedback_type": "abuse"},
    ),
    "event-delivery.json": (Kind.DELIVERY, ("recipient@example.com",), {}),
    "event-send.json": (Kind.SEND, (), {}),
    "event-reject.json": (Kind.REJECT, (), {}),
    "event-open.json": (Kind.OPEN, (), {}),
    "event-click.json": (Kind.CLICK, (), {}),
    "event-rendering-failure.json": (Kind.RENDERING_FAILURE, (), {}),
    "event-delivery-delay.json": (
        Kind.DELIVERY_DELAY,
        ("recipient@example.com",),
        {"delay_type": "TransientCommunicationFailure"},
    ),
    "event-subscription.json": (Kind.SUBSCRIPTION, (), {}),
}


def test_every_fixture_is_covered() -> None:
    assert {p.name for p in FIXTURES.glob("*.json")} == {*EXPECTED, "sns-subscription-succeeded.json"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("wrapped", [False, True], ids=["raw", "sns"])
def test_fixture(name: str, *, wrapped: bool) -> None:
    text = (FIXTURES / name).read_text()
    body = samples.sns_wrap(text) if wrapped else text
    notification = parse_body(body.encode())
    kind, recipients, fields = EXPECTED[name]
    assert notification.kind is kind
    assert tuple(r.address for r in notification.recipients) == recipients
    for field, value in fields.items():
        assert getattr(notification, field) == value, field
    assert notification.ses_message_id == json.loads(text)["mail"]["messageId"]
    assert notification.payload == text
    assert (notification.envelope is not None) is wrapped
    assert notification.occurred_at.tzinfo is UTC


def test_recipients_never_come_from_mail_destination() -> None:
    text = (FIXTURES / "notification-bounce-dsn.json").read_text()
    notification = parse_body(text.encode())
    assert [r.address for r in notification.recipients] == ["jane@example.com"]  # not mary, richard


def test_dsn_fields_are_kept() -> None:
    notification = parse_body((FIXTURES / "notification-bounce-dsn.json").read_bytes())
    (recipient,) = notification.recipients
    assert recipient.dsn_action == "failed"
    assert recipient.dsn_status == "5.1.1"
    assert recipient.diagnostic_code == "smtp; 550 5.1.1 <jane@example.com>... User"


def test_occurred_at_prefers_the_payload_timestamp() -> None:
    notification = parse_body((FIXTURES / "event-open.json").read_bytes())
    assert notification.occurred_at == datetime(2017, 8, 9, 22, 0, 24, 44000, tzinfo=UTC)


def test_occurred_at_falls_back_to_mail_timestamp() -> None:
    notification = parse_body((FIXTURES / "event-send.json").read_bytes())
    assert notification.occurred_at == datetime(2016, 10, 14, 5, 2, 16, 645000, tzinfo=UTC)


def test_occurred_at_falls_back_to_sns_timestamp() -> None:
    document = samples.send_event()
    del document["mail"]["timestamp"]
    notification = parse_body(
        samples.sns_wrap(samples.dumps(document), timestamp="2026-01-01T00:00:00Z").encode()
    )
    assert notification.occurred_at == datetime(2026, 1, 1, tzinfo=UTC)


def test_offsets_are_converted_to_utc() -> None:
    body = samples.dumps(samples.delivery(timestamp="2026-03-02T12:00:00+02:00"))
    assert parse_body(body.encode()).occurred_at == datetime(2026, 3, 2, 10, tzinfo=UTC)


SENT = datetime(2026, 3, 2, 10, 20, tzinfo=UTC)  # when SQS received the messages below
T = datetime(2026, 3, 2, 10, 15, 30, tzinfo=UTC)
AT_SENT = Arrival(SENT)


ABSENT = object()


def _bounce_timed(feedback: object = ABSENT, mail: object = ABSENT, envelope: str | None = None) -> bytes:
    """A Permanent bounce with these timestamps (ABSENT: no key), SNS-wrapped when `envelope` is."""
    document = samples.bounce(["jane@example.com"])
    for key, value in (("bounce", feedback), ("mail", mail)):
        if value is ABSENT:
            del document[key]["timestamp"]
        else:
            document[key]["timestamp"] = value
    text = samples.dumps(document)
    return (samples.sns_wrap(text, timestamp=envelope) if envelope is not None else text).encode()


@pytest.mark.parametrize(
    ("body", "occurred_at", "source", "claimed"),
    [
        (_bounce_timed("2026-03-02T10:15:30Z"), T, "feedback", None),
        (_bounce_timed(None, "2026-03-02T10:00:00Z"), datetime(2026, 3, 2, 10, tzinfo=UTC), "mail", None),
        (_bounce_timed("2026-03-02T10:15:30"), T, "feedback", None),
        (_bounce_timed("1772446530"), T, "feedback", None),
        (_bounce_timed(1772446530123), T.replace(microsecond=123000), "feedback", None),
        (
            _bounce_timed(None, None, "Mon, 02 Mar 2026 10:16:00 GMT"),
            datetime(2026, 3, 2, 10, 16, tzinfo=UTC),
            "envelope",
            None,
        ),
        (_bounce_timed(None, None), SENT, "sqs", None),
        (_bounce_timed("2026-03-02T10:25:00Z"), SENT + timedelta(minutes=5), "feedback", None),
        (_bounce_timed("2999-01-01T00:00:00Z", "2026-03-02T10:00:00Z"), SENT, "sqs", "2999-01-01T00:00:00Z"),
        (_bounce_timed("9999-12-31T23:59:59-01:00"), SENT, "sqs", "9999-12-31T23:59:59-01:00"),
        (_bounce_timed("0001-01-01T00:00:00+01:00"), SENT, "sqs", "0001-01-01T00:00:00+01:00"),
        (_bounce_timed("yesterday"), SENT, "sqs", "yesterday"),
        (_bounce_timed({"at": 1}), SENT, "sqs", '{"at":1}'),
        (_bounce_timed(None, "2026-13-02T10:15:30Z"), SENT, "sqs", "2026-13-02T10:15:30Z"),
    ],
    ids=[
        "feedback",
        "null-feedback-uses-mail",
        "no-zone-is-utc",
        "epoch-string",
        "epoch-milliseconds",
        "rfc1123-envelope",
        "none-uses-sqs",
        "just-within-the-lead",
        "future-uses-sqs",
        "past-datetime-max",
        "before-datetime-min",
        "unreadable",
        "not-a-time",
        "bad-mail-time",
    ],
)
def test_timestamps_never_reject_a_bounce(
    body: bytes, occurred_at: datetime, source: str, claimed: str | None
) -> None:
    notification = parse_body(body, AT_SENT)
    assert [r.address for r in notification.recipients] == ["jane@example.com"]
    assert notification.occurred_at == occurred_at
    assert (notification.time_source.value, notification.claimed_time) == (source, claimed)


def test_a_claimed_time_is_kept_storable() -> None:
    notification = parse_body(_bounce_timed("2026\u0000"), AT_SENT)
    assert notification.time_source is TimeSource.SQS
    assert notification.claimed_time == "2026\\x00"


def test_without_an_arrival_no_time_is_refused_for_being_late() -> None:
    notification = parse_body(_bounce_timed("2999-01-01T00:00:00Z"))
    assert notification.occurred_at == datetime(2999, 1, 1, tzinfo=UTC)
    assert parse_body(_bounce_timed(None, None)).time_source is TimeSource.UNKNOWN


def test_an_sns_confirmation_in_the_future_is_dated_when_it_arrived() -> None:
    body = samples.subscription_confirmation().encode()
    notification = parse_body(body, Arrival(datetime(2026, 3, 1, tzinfo=UTC)))
    assert (notification.occurred_at, notification.time_source) == (datetime(2026, 3, 1, tzinfo=UTC), "sqs")
    assert notification.claimed_time is not None


def test_subscription_confirmations_have_no_recipients() -> None:
    for sns_type in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
        notification = parse_body(samples.subscription_confirmation(sns_type=sns_type).encode())
        assert notification.kind is Kind.SUBSCRIPTION_CONFIRMATION
        assert notification.recipients == ()
        assert notification.envelope is not None
        assert notification.envelope.type == sns_type
        assert notification.occurred_at == datetime(2026, 3, 2, 9, tzinfo=UTC)


def test_ses_subscription_succeeded_note() -> None:
    text = (FIXTURES / "sns-subscription-succeeded.json").read_text()
    raw = parse_body(text.encode())
    assert raw.kind is Kind.SUBSCRIPTION_CONFIRMATION
    assert raw.occurred_at == TIME_UNKNOWN
    wrapped = parse_body(samples.sns_wrap(text, timestamp="2026-01-01T00:00:00Z").encode())
    assert wrapped.occurred_at == datetime(2026, 1, 1, tzinfo=UTC)


def test_multi_recipient_keeps_order_and_drops_duplicates() -> None:
    document = samples.bounce(["B@example.com", "a@example.com", "b@EXAMPLE.com", "Bee <b@example.com>"])
    notification = parse_body(samples.dumps(document).encode())
    assert [r.address for r in notification.recipients] == ["b@example.com", "a@example.com"]


def test_smtputf8_recipient_survives() -> None:
    document = samples.bounce(["用户@例子.广告", "JOSÉ@exämple.com"])
    for body in (samples.dumps(document), json.dumps(document)):  # literal UTF-8 and \u escapes
        notification = parse_body(body.encode())
        assert [r.address for r in notification.recipients] == ["用户@例子.广告", "josé@exämple.com"]


def test_unknown_fields_are_ignored() -> None:
    document = samples.complaint(event=True)
    document["futureField"] = {"nested": [1, 2]}
    document["complaint"]["somethingNew"] = True
    assert parse_body(samples.dumps(document).encode()).kind is Kind.COMPLAINT


def test_every_complaint_feedback_type_is_recorded() -> None:
    for feedback_type in ("abuse", "auth-failure", "fraud", "not-spam", "other", "virus"):
        document = samples.complaint(feedback_type=feedback_type, subtype="OnAccountSuppressionList")
        notification = parse_body(samples.dumps(document).encode())
        assert notification.complaint_feedback_type == feedback_type
        assert notification.complaint_subtype == "OnAccountSuppressionList"


def mutate(document: dict[str, Any], path: str, value: Any) -> bytes:
    *parents, last = path.split(".")
    target: Any = document
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is DELETE:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return json.dumps(document).encode()  # ASCII: a lone surrogate becomes a \ud800 escape


DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "code"),
    [
        ("notificationType", DELETE, "missing_type"),
        ("notificationType", "Bounced", "unknown_type"),
        ("notificationType", ["Bounce"], "bad_field"),
        ("mail", DELETE, "missing_field"),
        ("mail", "x", "bad_field"),
        ("mail.messageId", DELETE, "missing_field"),
        ("mail.messageId", 7, "bad_field"),
        ("bounce", DELETE, "missing_field"),
        ("bounce", [], "bad_field"),
        ("bounce.bounceType", DELETE, "missing_field"),
        ("bounce.bounceType", None, "missing_field"),
        ("bounce.bounceSubType", 1, "bad_field"),
        ("bounce.feedbackId", {}, "bad_field"),
        ("bounce.bouncedRecipients", [], "no_recipients"),
        ("bounce.bouncedRecipients", DELETE, "no_recipients"),
        ("bounce.bouncedRecipients", {}, "bad_field"),
        ("bounce.bouncedRecipients.0.diagnosticCode", "smtp\u0000; 550", "bad_field"),
        # A lone surrogate escape cannot be decoded to Unicode text: invalid JSON (orjson refuses it).
        ("bounce.bouncedRecipients.0.diagnosticCode", "smtp \ud800", "invalid_json"),
    ],
)
def test_hostile_bounce(path: str, value: Any, code: str) -> None:
    document = samples.bounce(["jane@example.com", "john@example.com"])
    with pytest.raises(ReadError) as caught:
        parse_body(mutate(document, path, value))
    assert caught.value.code == code


# Entries of a recipient list that cannot be read: (index, mutation of that entry, code).
UNREADABLE_ENTRIES = [
    ("bounce.bouncedRecipients.0", "jane@example.com", "bad_field"),
    ("bounce.bouncedRecipients.0.emailAddress", DELETE, "missing_field"),
    ("bounce.bouncedRecipients.0.emailAddress", 5, "bad_field"),
    ("bounce.bouncedRecipients.0.emailAddress", "", "bad_address"),
    ("bounce.bouncedRecipients.0.emailAddress", '"john doe"@example.com', "bad_address"),
    ("bounce.bouncedRecipients.0.emailAddress", "not an address", "bad_address"),
    ("bounce.bouncedRecipients.0.status", 5.1, "bad_field"),
]


@pytest.mark.parametrize(("path", "value", "code"), UNREADABLE_ENTRIES)
def test_an_unreadable_recipient_is_left_out_and_named(path: str, value: Any, code: str) -> None:
    document = samples.bounce(["jane@example.com", "john@example.com", "Jill <jill@example.com>"])
    notification = parse_body(mutate(document, path, value))
    assert [r.address for r in notification.recipients] == ["john@example.com", "jill@example.com"]
    (unreadable,) = notification.unreadable_recipients
    assert unreadable.isascii()
    if isinstance(value, str) and path.endswith("emailAddress"):
        assert unreadable.startswith(ascii(value))


@pytest.mark.parametrize(("path", "value", "code"), UNREADABLE_ENTRIES)
def test_with_no_readable_recipient_the_message_is_bad(path: str, value: Any, code: str) -> None:
    with pytest.raises(ReadError) as caught:
        parse_body(mutate(samples.bounce(["jane@example.com"]), path, value))
    assert caught.value.code == code


def test_with_several_recipients_and_none_readable_the_detail_names_each() -> None:
    document = samples.bounce(["", '"john doe"@example.com'])
    with pytest.raises(ReadError) as caught:
        parse_body(samples.dumps(document).encode())
    assert caught.value.code == "bad_address"
    assert "''" in caught.value.detail
    assert """'"john doe"@example.com'""" in caught.value.detail


def test_unreadable_descriptions_are_ascii_and_bounded() -> None:
    long = "ü" * 5000 + "@example.com"
    document = samples.delivery(["ok@example.com", long, "nul\u0000@example.com"])
    document["delivery"]["recipients"].append(7)
    notification = parse_body(samples.dumps(document).encode())
    assert [r.address for r in notification.recipients] == ["ok@example.com"]
    first, nul, number = notification.unreadable_recipients
    assert all(d.isascii() and len(d) < 1000 for d in (first, nul, number))
    assert first.startswith("'" + "\\xfc" * 100 + "'...")
    assert nul.startswith("'nul\\x00@example.com'")
    assert number.startswith("a int entry")


@pytest.mark.parametrize(
    ("document", "path", "value"),
    [
        (samples.complaint(["a@example.com", "b@example.com"]), "complaint.complainedRecipients.0", None),
        (samples.delivery(["a@example.com", "b@example.com"]), "delivery.recipients.0", "a@"),
        (
            samples.delivery_delay(["a@example.com", "b@example.com"]),
            "deliveryDelay.delayedRecipients.0.emailAddress",
            "",
        ),
    ],
)
def test_other_kinds_leave_out_unreadable_recipients_too(
    document: dict[str, Any], path: str, value: Any
) -> None:
    notification = parse_body(mutate(document, path, value))
    assert [r.address for r in notification.recipients] == ["b@example.com"]
    assert len(notification.unreadable_recipients) == 1


@pytest.mark.parametrize(
    ("document", "path", "value", "code"),
    [
        (samples.complaint(), "complaint.complainedRecipients", [], "no_recipients"),
        (samples.complaint(), "complaint.complainedRecipients.0", None, "bad_field"),
        (samples.complaint(), "complaint.complaintFeedbackType", 1, "bad_field"),
        (samples.delivery(), "delivery.recipients", [], "no_recipients"),
        (samples.delivery(), "delivery.recipients.0", {"emailAddress": "a@b.c"}, "bad_field"),
        (samples.delivery(), "delivery.recipients.0", "a@", "bad_address"),
        (samples.delivery_delay(), "deliveryDelay.delayedRecipients", [], "no_recipients"),
        (samples.delivery_delay(), "deliveryDelay.delayType", 4, "bad_field"),
        (samples.send_event(), "send", "x", "bad_field"),
        (samples.send_event(), "eventType", "Sent", "unknown_type"),
    ],
)
def test_hostile_other_kinds(document: dict[str, Any], path: str, value: Any, code: str) -> None:
    with pytest.raises(ReadError) as caught:
        parse_body(mutate(document, path, value))
    assert caught.value.code == code


def test_payloadless_kinds_parse_without_their_object() -> None:
    document = samples.send_event()
    del document["send"]
    assert parse_body(samples.dumps(document).encode()).kind is Kind.SEND


def test_event_type_is_not_read_from_notification_table() -> None:
    document = samples.send_event()
    document["notificationType"] = document.pop("eventType")  # Send exists only as an event
    with pytest.raises(ReadError) as caught:
        parse_body(samples.dumps(document).encode())
    assert caught.value.code == "unknown_type"
