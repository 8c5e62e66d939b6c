"""From one received SQS message to an `Outcome`: read, verify, classify, or quarantine.

The reader never raises for a bad message: a body that cannot be read or trusted becomes a
`Quarantined` outcome with the reason. The one exception is a failure that says nothing about the
message itself (the SNS signing certificate could not be fetched just now): then `read` returns None
and the message stays on the queue for a later try.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bounced.classify import DEFAULT_RULES, Rules, classify
from bounced.clock import Clock, SystemClock
from bounced.model import Applied, Outcome, Quarantined, ReadError, TimeSource
from bounced.pipeline import Verifier, read_message
from bounced.signature import CertificateUnavailable
from bounced.sqs import Message
from bounced.timing import Arrival

RECEIVE_COUNT_EXCEEDED = "receive_count_exceeded"


@dataclass(frozen=True, slots=True)
class MessageReader:
    """Turns SQS messages into outcomes with one verifier, topic allow-list and rule table."""

    verifier: Verifier | None
    allowed_topics: frozenset[str] = frozenset()
    rules: Rules = DEFAULT_RULES
    max_receive_count: int = 5
    clock: Clock = field(default_factory=SystemClock)  # when SQS gave no SentTimestamp

    async def read(self, queue: str, message: Message) -> Outcome | None:
        """The outcome of one message, or None to leave it on the queue for now."""
        if message.receive_count > self.max_receive_count:
            detail = f"received {message.receive_count} times (limit {self.max_receive_count})"
            return self._quarantine(queue, message, RECEIVE_COUNT_EXCEEDED, detail)
        try:
            notification = await read_message(
                message.body,
                verifier=self.verifier,
                allowed_topics=self.allowed_topics,
                arrival=self._arrival(message),
            )
        except ReadError as exc:
            return self._quarantine(queue, message, exc.code, exc.detail)
        except CertificateUnavailable:
            return None
        return Applied(
            queue=queue,
            sqs_message_id=message.message_id,
            notification=notification,
            decisions=classify(notification, self.rules),
            sent_at=message.sent_at,
        )

    def _arrival(self, message: Message) -> Arrival:
        if message.sent_at is not None:
            return Arrival(message.sent_at, TimeSource.SQS)
        return Arrival(self.clock.now(), TimeSource.RECEIVED)

    @staticmethod
    def _quarantine(queue: str, message: Message, code: str, detail: str) -> Quarantined:
        return Quarantined(
            queue=queue,
            sqs_message_id=message.message_id,
            body=message.body,
            code=code,
            detail=detail,
            receive_count=message.receive_count,
        )
