"""Read one SQS message body the way the daemon does: parse, check the topic, verify the signature."""

from __future__ import annotations

from typing import Protocol

from bounced.model import Notification, ReadError, SnsEnvelope
from bounced.parse import parse_body
from bounced.timing import Arrival


class Verifier(Protocol):
    """Checks an SNS envelope's signature (the real one is `bounced.signature`)."""

    async def verify(self, envelope: SnsEnvelope) -> None:
        """Return when the signature is good; raise `ReadError` when it is not."""


async def read_message(
    body: bytes,
    *,
    verifier: Verifier | None,
    allowed_topics: frozenset[str] = frozenset(),
    arrival: Arrival | None = None,
) -> Notification:
    """The notification in `body`, from an allowed topic and verified when a verifier is given;
    `arrival` bounds the times it may claim (see `bounced.timing`).

    Raises `ReadError`: the parser's codes, `topic_not_allowed`, or the verifier's."""
    notification = parse_body(body, arrival)
    envelope = notification.envelope
    if envelope is not None:
        if allowed_topics and envelope.topic_arn not in allowed_topics:
            raise ReadError("topic_not_allowed", f"topic {envelope.topic_arn[:256]!r} is not allowed")
        if verifier is not None:
            await verifier.verify(envelope)
    return notification
