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


UNSIGNED_BODY = "unsigned_body"


async def read_message(
    body: bytes,
    *,
    verifier: Verifier | None,
    allowed_topics: frozenset[str] = frozenset(),
    arrival: Arrival | None = None,
    unsigned_ok: bool = False,
) -> Notification:
    """The notification in `body`, from an allowed topic and verified when a verifier is given;
    `arrival` bounds the times it may claim (see `bounced.timing`).

    With a verifier, a body without an SNS envelope (raw message delivery) has no signature to
    check: it is accepted only when `unsigned_ok` (its queue is declared to take unsigned bodies).

    Raises `ReadError`: the parser's codes, `topic_not_allowed`, `unsigned_body`, or the verifier's."""
    notification = parse_body(body, arrival)
    envelope = notification.envelope
    if envelope is None:
        if verifier is not None and not unsigned_ok:
            raise ReadError(
                UNSIGNED_BODY, "no SNS envelope, and this queue is not in BOUNCED_UNSIGNED_QUEUES"
            )
    else:
        if allowed_topics and envelope.topic_arn not in allowed_topics:
            raise ReadError("topic_not_allowed", f"topic {envelope.topic_arn[:256]!r} is not allowed")
        if verifier is not None:
            await verifier.verify(envelope)
    return notification
