"""EventBridge events (an SES configuration set publishing to the default bus, a rule with an SQS
target): read on any queue like the SNS envelope, with their own trust checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bounced.core import samples
from bounced.core.classify import classify
from bounced.core.envelope import read_document
from bounced.core.model import Action, Classified, Kind, PayloadSource, Quarantined, ReadError, TimeSource
from bounced.core.parse import parse_body
from bounced.core.timing import Arrival
from bounced.ingest.reader import MessageReader
from bounced.ingest.sqs import Message

BOUNCE = samples.bounce(["jane@example.org"], event=True)
COMPLAINT = samples.complaint(["joe@example.org"], event=True)
ACCOUNT = samples.ACCOUNT


def message(body: str) -> Message:
    return Message("sqs-1", "handle", body.encode(), receive_count=1, sent_at=None)


def code_of(body: str) -> str:
    with pytest.raises(ReadError) as caught:
        parse_body(body.encode())
    return caught.value.code


def test_an_event_is_read_as_its_detail() -> None:
    body = samples.eventbridge_event(BOUNCE, event_id="ev-1", time="2026-03-02T10:15:31Z")
    read = read_document(body.encode())
    assert read.envelope is None
    assert read.eventbridge is not None
    assert read.eventbridge.event_id == "ev-1"
    assert read.eventbridge.source == "aws.ses"
    assert read.eventbridge.detail_type == "Email Bounced"
    assert read.eventbridge.account == ACCOUNT
    assert read.eventbridge.time == "2026-03-02T10:15:31Z"
    assert read.eventbridge.region == "eu-west-1"
    assert read.document == BOUNCE
    assert json.loads(read.text) == BOUNCE


@pytest.mark.parametrize(
    "document",
    [
        samples.bounce(["a@example.org"], event=True),
        samples.bounce(["a@example.org"], event=True, bounce_type="Transient", subtype="MailboxFull"),
        samples.complaint(["a@example.org"], event=True),
        samples.delivery(["a@example.org"], event=True),
        samples.delivery_delay(["a@example.org"]),
        samples.send_event(),
        samples.reject_event(),
        samples.open_event(),
        samples.click_event(),
        samples.rendering_failure_event(),
        samples.subscription_event(),
    ],
)
def test_decisions_are_those_of_the_same_record_through_sns(document: dict[str, Any]) -> None:
    via_eventbridge = parse_body(samples.eventbridge_event(document).encode())
    via_sns = parse_body(samples.sns_wrap(samples.dumps(document)).encode())
    assert via_eventbridge.source is PayloadSource.EVENTBRIDGE
    assert via_eventbridge.kind == via_sns.kind
    assert via_eventbridge.recipients == via_sns.recipients
    assert via_eventbridge.idempotency_id == via_sns.idempotency_id
    assert via_eventbridge.occurred_at == via_sns.occurred_at
    assert classify(via_eventbridge) == classify(via_sns)


def test_the_same_record_put_twice_is_one_payload() -> None:
    first = parse_body(samples.eventbridge_event(BOUNCE, event_id="ev-1").encode())
    second = parse_body(
        samples.eventbridge_event(BOUNCE, event_id="ev-2", time="2026-03-02T10:16:00Z").encode()
    )
    assert first.payload == second.payload
    assert json.loads(first.payload) == BOUNCE


def test_the_event_time_is_the_envelope_time() -> None:
    document = samples.send_event()
    del document["mail"]["timestamp"]
    notification = parse_body(samples.eventbridge_event(document, time="2026-01-01T00:00:00Z").encode())
    assert notification.occurred_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert notification.time_source is TimeSource.ENVELOPE


def test_an_event_time_later_than_its_arrival_is_not_trusted() -> None:
    document = samples.send_event()
    del document["mail"]["timestamp"]
    arrival = Arrival(datetime(2026, 3, 2, 10, 15, 40, tzinfo=UTC))
    body = samples.eventbridge_event(document, time="2999-01-01T00:00:00Z")
    notification = parse_body(body.encode(), arrival)
    assert (notification.occurred_at, notification.time_source) == (arrival.at, TimeSource.SQS)
    assert notification.claimed_time == "2999-01-01T00:00:00Z"


def test_a_source_other_than_ses_is_not_allowed() -> None:
    assert code_of(samples.eventbridge_event(BOUNCE, source="aws.ec2")) == "source_not_allowed"
    assert code_of(samples.eventbridge_event(BOUNCE, source="my.app")) == "source_not_allowed"


def _edited(**changes: Any) -> str:
    event = json.loads(samples.eventbridge_event(BOUNCE))
    for key, value in changes.items():
        if value is DELETE:
            del event[key.replace("_", "-")]
        else:
            event[key.replace("_", "-")] = value
    return json.dumps(event)


DELETE = object()


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"detail": DELETE}, "missing_field"),
        ({"detail": "{}"}, "bad_field"),
        ({"detail": []}, "bad_field"),
        ({"source": DELETE}, "missing_field"),
        ({"source": 7}, "bad_field"),
        ({"id": DELETE}, "missing_field"),
        ({"account": 123456789012}, "bad_field"),
        ({"time": ["now"]}, "bad_field"),
        ({"detail_type": 1}, "bad_field"),
        ({"detail_type": "Sending Status Disabled"}, "unknown_type"),
        ({"detail_type": "Email Complaint Received"}, "bad_field"),  # the detail is a bounce
        ({"detail": {"mail": {}}}, "missing_type"),
        ({"source": "aws.ses\u0000"}, "source_not_allowed"),
        ({"account": "12345678901\ud800"}, "invalid_json"),
        ({"region": "eu\u0000"}, "bad_field"),
    ],
)
def test_malformed_events_are_refused(changes: dict[str, Any], code: str) -> None:
    assert code_of(_edited(**changes)) == code


def test_without_a_detail_type_the_body_is_what_it_was_before() -> None:
    event = json.loads(samples.eventbridge_event(BOUNCE))
    del event["detail-type"]
    assert code_of(json.dumps(event)) == "missing_type"


class Accepting:
    async def verify(self, envelope: object) -> None:
        return None


async def test_an_event_is_applied_on_a_queue_declared_unsigned() -> None:
    reader = MessageReader(verifier=Accepting(), unsigned_queues=frozenset({"bounce"}))
    outcome = await reader.read("bounce", message(samples.eventbridge_event(BOUNCE)))
    assert isinstance(outcome, Classified)
    assert [(d.action, d.address) for d in outcome.decisions] == [(Action.SUPPRESS, "jane@example.org")]
    assert outcome.notification.kind is Kind.BOUNCE


async def test_with_signatures_checked_an_event_elsewhere_is_unsigned() -> None:
    reader = MessageReader(verifier=Accepting(), unsigned_queues=frozenset({"complaint"}))
    outcome = await reader.read("bounce", message(samples.eventbridge_event(BOUNCE)))
    assert isinstance(outcome, Quarantined)
    assert outcome.code == "unsigned_body"
    assert "EventBridge" in outcome.detail
    assert "BOUNCED_UNSIGNED_QUEUES" in outcome.detail


async def test_with_an_account_allow_list_only_those_accounts_are_read() -> None:
    reader = MessageReader(verifier=None, allowed_accounts=frozenset({ACCOUNT}))
    mine = await reader.read("bounce", message(samples.eventbridge_event(COMPLAINT)))
    assert isinstance(mine, Classified)
    foreign = await reader.read("bounce", message(samples.eventbridge_event(BOUNCE, account="210987654321")))
    assert isinstance(foreign, Quarantined)
    assert foreign.code == "account_not_allowed"
    assert "'210987654321'" in foreign.detail
    nameless = await reader.read("bounce", message(samples.eventbridge_event(BOUNCE, account=None)))
    assert isinstance(nameless, Quarantined)
    assert (nameless.code, "no account" in nameless.detail) == ("account_not_allowed", True)


async def test_without_an_account_allow_list_any_account_is_read() -> None:
    body = samples.eventbridge_event(BOUNCE, account=None)
    assert isinstance(await MessageReader(verifier=None).read("bounce", message(body)), Classified)


async def test_the_account_allow_list_says_nothing_about_sns_or_raw_bodies() -> None:
    reader = MessageReader(verifier=None, allowed_accounts=frozenset({"210987654321"}))
    wrapped = samples.sns_wrap(samples.dumps(BOUNCE))
    assert isinstance(await reader.read("bounce", message(wrapped)), Classified)
    assert isinstance(await reader.read("bounce", message(samples.dumps(BOUNCE))), Classified)
