from __future__ import annotations

import json

import pytest

from bounced.core import samples
from bounced.core.envelope import MAX_DEPTH, check_depth, loads_object, read_document
from bounced.core.model import ReadError


def codes(body: bytes) -> str:
    with pytest.raises(ReadError) as caught:
        read_document(body)
    return caught.value.code


def test_raw_body_has_no_envelope() -> None:
    text = samples.dumps(samples.bounce())
    read = read_document(text.encode())
    assert read.envelope is None
    assert read.document["notificationType"] == "Bounce"
    assert read.text == text


def test_envelope_fields_are_verbatim() -> None:
    message = samples.dumps(samples.bounce())
    body = samples.sns_wrap(message, subject="Amazon SES Email Event Notification", message_id="m-1")
    read = read_document(body.encode())
    outer = json.loads(body)
    assert read.envelope is not None
    assert read.envelope.type == "Notification"
    assert read.envelope.message == message == read.text
    assert read.envelope.message_id == "m-1"
    assert read.envelope.topic_arn == outer["TopicArn"]
    assert read.envelope.timestamp == outer["Timestamp"]
    assert read.envelope.signature == outer["Signature"]
    assert read.envelope.signature_version == "1"
    assert read.envelope.signing_cert_url == outer["SigningCertURL"]
    assert read.envelope.unsubscribe_url == outer["UnsubscribeURL"]
    assert read.envelope.subject == "Amazon SES Email Event Notification"
    assert read.document == json.loads(message)


def test_confirmation_keeps_subscribe_url_and_token() -> None:
    body = samples.subscription_confirmation(token="tok")
    read = read_document(body.encode())
    assert read.envelope is not None
    assert read.envelope.type == "SubscriptionConfirmation"
    assert read.envelope.token == "tok"
    assert read.envelope.subscribe_url is not None
    assert read.document == {}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"\xff\xfe{}", "invalid_utf8"),
        (b'{"a": "\xc3"}', "invalid_utf8"),
        (b"", "invalid_json"),
        (b'{"a": ', "invalid_json"),
        (b'{"a": NaN}', "invalid_json"),
        (b'{"a": Infinity}', "invalid_json"),
        (b'{"a": ' + b"1" * 5000 + b"}", "invalid_json"),
        (b"[]", "not_an_object"),
        (b'"text"', "not_an_object"),
        (b"null", "not_an_object"),
        (b"[" * 100_000, "too_deep"),
        (b'{"a":' * 100_000, "too_deep"),
        (b"x" * (1024 * 1024 + 1), "too_large"),
    ],
)
def test_hostile_bodies(body: bytes, code: str) -> None:
    assert codes(body) == code


def envelope(**fields: object) -> bytes:
    base: dict[str, object] = {
        "Type": "Notification",
        "MessageId": "m",
        "TopicArn": "arn:aws:sns:eu-west-1:1:t",
        "Message": samples.dumps(samples.delivery()),
        "Timestamp": "2026-03-02T10:15:31.456Z",
    }
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not None}).encode()


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"Type": "Other"}, "unknown_type"),
        ({"Type": 5}, "bad_field"),
        ({"TopicArn": None}, "missing_field"),
        ({"MessageId": None}, "missing_field"),
        ({"Message": None}, "missing_field"),
        ({"Timestamp": None}, "missing_field"),
        ({"Message": {"notificationType": "Delivery"}}, "bad_field"),
        ({"Subject": 3}, "bad_field"),
        ({"Message": "not json"}, "invalid_json"),
        ({"Message": "[1]"}, "not_an_object"),
        ({"Message": "[" * 50_000}, "too_deep"),
        ({"TopicArn": "arn\u0000x"}, "bad_field"),
        # A lone surrogate escape cannot be decoded to Unicode text: invalid JSON (orjson refuses it).
        ({"Signature": "\ud800"}, "invalid_json"),
    ],
)
def test_hostile_envelopes(fields: dict[str, object], code: str) -> None:
    assert codes(envelope(**fields)) == code


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"a": "[" * 1000, "b": "{" * 1000})
    assert loads_object(text) == json.loads(text)


def test_depth_limit_is_exact() -> None:
    check_depth("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    with pytest.raises(ReadError):
        check_depth("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))


def test_unicode_escaped_brackets_in_message_are_checked() -> None:
    # \u005b is "[": invisible to a bracket count of the outer body, real in the Message.
    body = b'{"Type":"Notification","MessageId":"m","TopicArn":"t","Timestamp":"t","Message":"'
    body += b"\\u005b" * 1000 + b'"}'
    assert codes(body) == "too_deep"
