"""The reader bounds a message's times by when SQS received it, or by its clock when SQS did not say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bounced.core import samples
from bounced.core.model import Classified, TimeSource
from bounced.ingest.reader import MessageReader
from bounced.ingest.sqs import Message
from tests.support.clock import ManualClock

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
FUTURE = "2999-01-01T00:00:00Z"


def _message(sent_at: datetime | None) -> Message:
    body = samples.dumps(samples.delivery(["a@example.com"], timestamp=FUTURE)).encode()
    return Message("sqs-1", "handle", body, receive_count=1, sent_at=sent_at)


async def _read(reader: MessageReader, message: Message) -> Classified:
    outcome = await reader.read("delivery", message)
    assert isinstance(outcome, Classified)
    return outcome


async def test_a_time_past_the_sent_timestamp_gives_way_to_it() -> None:
    sent = NOW - timedelta(hours=1)
    outcome = await _read(MessageReader(verifier=None, clock=ManualClock(NOW)), _message(sent))
    n = outcome.notification
    assert (n.occurred_at, n.time_source, n.claimed_time) == (sent, TimeSource.SQS, FUTURE)


async def test_without_a_sent_timestamp_the_clock_stands_in() -> None:
    outcome = await _read(MessageReader(verifier=None, clock=ManualClock(NOW)), _message(None))
    n = outcome.notification
    assert (n.occurred_at, n.time_source, n.claimed_time) == (NOW, TimeSource.RECEIVED, FUTURE)
