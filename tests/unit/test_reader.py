"""`MessageReader`: one SQS message to one outcome, whatever the message holds."""

from __future__ import annotations

import asyncio

import pytest

from bounced.core import samples
from bounced.core.model import Classified, Quarantined, SnsEnvelope
from bounced.ingest.reader import INTERNAL_ERROR, UNREADABLE_RECIPIENTS, MessageReader
from bounced.ingest.signature import CertificateUnavailable
from bounced.ingest.sqs import Message


class RaisingVerifier:
    """A verifier with a bug: it raises `error` for every envelope."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    async def verify(self, envelope: SnsEnvelope) -> None:
        raise self.error


def message(body: str, message_id: str = "sqs-1") -> Message:
    return Message(message_id, "handle", body.encode(), receive_count=1, sent_at=None)


WRAPPED = samples.sns_wrap(samples.dumps(samples.bounce(["secret@example.org"])))


async def test_an_unexpected_exception_quarantines_the_message_as_internal_error() -> None:
    reader = MessageReader(verifier=RaisingVerifier(OverflowError("date value out of range")))
    outcome = await reader.read("bounce", message(WRAPPED))
    assert isinstance(outcome, Quarantined)
    assert (outcome.code, outcome.detail) == (INTERNAL_ERROR, "OverflowError")
    assert outcome.body == WRAPPED.encode()
    assert outcome.sqs_message_id == "sqs-1"


async def test_an_unavailable_certificate_still_leaves_the_message_on_the_queue() -> None:
    reader = MessageReader(verifier=RaisingVerifier(CertificateUnavailable("no route")))
    assert await reader.read("bounce", message(WRAPPED)) is None


async def test_cancellation_is_not_swallowed() -> None:
    reader = MessageReader(verifier=RaisingVerifier(asyncio.CancelledError()))
    with pytest.raises(asyncio.CancelledError):
        await reader.read("bounce", message(WRAPPED))


async def test_a_good_message_is_applied() -> None:
    outcome = await MessageReader(verifier=None).read("bounce", message(WRAPPED))
    assert isinstance(outcome, Classified)
    assert [d.address for d in outcome.decisions] == ["secret@example.org"]


class Accepting:
    """A verifier that accepts every envelope (the signature check itself is tested elsewhere)."""

    async def verify(self, envelope: SnsEnvelope) -> None:
        return None


RAW = samples.dumps(samples.bounce(["raw@example.org"]))


async def test_with_signatures_checked_a_raw_body_on_a_signed_queue_is_quarantined() -> None:
    reader = MessageReader(verifier=Accepting(), unsigned_queues=frozenset({"complaint"}))
    outcome = await reader.read("bounce", message(RAW))
    assert isinstance(outcome, Quarantined)
    assert outcome.code == "unsigned_body"
    assert "BOUNCED_UNSIGNED_QUEUES" in outcome.detail
    assert outcome.body == RAW.encode()


async def test_a_raw_body_on_a_queue_declared_unsigned_is_applied() -> None:
    reader = MessageReader(verifier=Accepting(), unsigned_queues=frozenset({"complaint"}))
    outcome = await reader.read("complaint", message(RAW))
    assert isinstance(outcome, Classified)
    assert [d.address for d in outcome.decisions] == ["raw@example.org"]


async def test_an_envelope_is_checked_on_any_queue() -> None:
    reader = MessageReader(verifier=Accepting(), unsigned_queues=frozenset({"complaint"}))
    assert isinstance(await reader.read("bounce", message(WRAPPED)), Classified)
    assert isinstance(await reader.read("complaint", message(WRAPPED)), Classified)


async def test_with_signature_checks_off_raw_bodies_are_read_on_every_queue() -> None:
    outcome = await MessageReader(verifier=None).read("bounce", message(RAW))
    assert isinstance(outcome, Classified)


async def test_unreadable_recipients_are_applied_without_and_kept_with_the_raw_bytes() -> None:
    people = [f"p{index}@example.org" for index in range(11)] + ['"john doe"@example.com', ""]
    body = samples.dumps(samples.bounce(people))
    outcome = await MessageReader(verifier=None).read("bounce", message(body))
    assert isinstance(outcome, Classified)
    assert [d.address for d in outcome.decisions] == [f"p{index}@example.org" for index in range(11)]
    held = outcome.quarantine
    assert held is not None
    assert (held.queue, held.sqs_message_id, held.body) == ("bounce", "sqs-1", body.encode())
    assert held.code == UNREADABLE_RECIPIENTS
    assert held.detail.startswith("2 of 13 recipients unreadable, not applied (the other 11 were): ")
    assert """'"john doe"@example.com' (""" in held.detail
    assert "'' (" in held.detail


async def test_a_readable_message_has_nothing_to_keep() -> None:
    outcome = await MessageReader(verifier=None).read("bounce", message(RAW))
    assert isinstance(outcome, Classified)
    assert outcome.quarantine is None


async def test_the_detail_names_at_most_twenty_unreadable_recipients() -> None:
    people = ["ok@example.org"] + [f"bad {index}@example.org" for index in range(25)]
    outcome = await MessageReader(verifier=None).read(
        "bounce", message(samples.dumps(samples.bounce(people)))
    )
    assert isinstance(outcome, Classified)
    assert outcome.quarantine is not None
    detail = outcome.quarantine.detail
    assert "'bad 19@example.org'" in detail
    assert "'bad 20@example.org'" not in detail
    assert detail.endswith("; and 5 more")
