"""Reading one received SQS message: parse its body, check the topic and the signature, classify
(`read_message`, `MessageReader`), or quarantine it: the whole step from bytes to an `Outcome`.

The reader never raises for a bad message: a body that cannot be read or trusted becomes a
`Quarantined` outcome with the reason. The one exception is a failure that says nothing about the
message itself (the SNS signing certificate could not be fetched just now): then `read` returns None
and the message stays on the queue for a later try.

Anything else that goes wrong while reading one message (a bug bounced has, tripped by a body nobody
foresaw) quarantines that message as `internal_error` with the exception's type: one message can
never stop the daemon, nor hold up the other messages of its batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from bounced.core.classify import DEFAULT_RULES, Rules, classify
from bounced.core.clock import Clock, SystemClock
from bounced.core.model import (
    Classified,
    EventBridgeEnvelope,
    Notification,
    Outcome,
    Quarantined,
    ReadError,
    SnsEnvelope,
    TimeSource,
)
from bounced.core.parse import parse_body
from bounced.core.timing import Arrival
from bounced.ingest.signature import CertificateUnavailable
from bounced.ingest.sqs import Message

RECEIVE_COUNT_EXCEEDED = "receive_count_exceeded"
INTERNAL_ERROR = "internal_error"
UNREADABLE_RECIPIENTS = "unreadable_recipients"
# The most unreadable recipients a quarantine detail names one by one.
NAMED_UNREADABLE = 20


class Verifier(Protocol):
    """Checks an SNS envelope's signature (the real one is `bounced.ingest.signature`)."""

    async def verify(self, envelope: SnsEnvelope) -> None:
        """Return when the signature is good; raise `ReadError` when it is not."""


UNSIGNED_BODY = "unsigned_body"
ACCOUNT_NOT_ALLOWED = "account_not_allowed"


async def read_message(
    body: bytes,
    *,
    verifier: Verifier | None,
    allowed_topics: frozenset[str] = frozenset(),
    arrival: Arrival | None = None,
    unsigned_ok: bool = False,
    allowed_accounts: frozenset[str] = frozenset(),
) -> Notification:
    """The notification in `body`, from an allowed topic (SNS) or account (EventBridge) and verified
    when a verifier is given; `arrival` bounds the times it may claim (see `bounced.core.timing`).

    With a verifier, a body without an SNS envelope (raw message delivery, or an EventBridge event)
    has no signature to check: it is accepted only when `unsigned_ok` (its queue is declared to take
    unsigned bodies, and its queue policy is what vouches for it).

    Raises `ReadError`: the parser's codes, `topic_not_allowed`, `account_not_allowed`,
    `unsigned_body`, or the verifier's."""
    notification = parse_body(body, arrival)
    envelope = notification.envelope
    if notification.eventbridge is not None:
        _check_account(notification.eventbridge, allowed_accounts)
    if envelope is None:
        if verifier is not None and not unsigned_ok:
            raise ReadError(
                UNSIGNED_BODY, f"{_unsigned(notification)}, and this queue is not in {UNSIGNED_SETTING}"
            )
    else:
        if allowed_topics and envelope.topic_arn not in allowed_topics:
            raise ReadError("topic_not_allowed", f"topic {envelope.topic_arn[:256]!r} is not allowed")
        if verifier is not None:
            await verifier.verify(envelope)
    return notification


UNSIGNED_SETTING = "BOUNCED_UNSIGNED_QUEUES"


def _unsigned(notification: Notification) -> str:
    if notification.eventbridge is not None:
        return "an EventBridge event (unsigned)"
    return "no SNS envelope"


def _check_account(event: EventBridgeEnvelope, allowed: frozenset[str]) -> None:
    """With an allow-list, an event from another account, or naming none, is refused."""
    if allowed and event.account not in allowed:
        account = repr(event.account[:64]) if event.account is not None else "no account"
        raise ReadError(
            ACCOUNT_NOT_ALLOWED, f"EventBridge event from {account}, not in BOUNCED_ALLOWED_ACCOUNTS"
        )


@dataclass(frozen=True, slots=True)
class MessageReader:
    """Turns SQS messages into outcomes with one verifier, topic and account allow-lists and rule
    table. `unsigned_queues`: the queues (short names) where a body without an SNS envelope (raw, or
    an EventBridge event) is accepted while signatures are checked."""

    verifier: Verifier | None
    allowed_topics: frozenset[str] = frozenset()
    unsigned_queues: frozenset[str] = frozenset()
    allowed_accounts: frozenset[str] = frozenset()
    rules: Rules = DEFAULT_RULES
    max_receive_count: int = 5
    clock: Clock = field(default_factory=SystemClock)  # when SQS gave no SentTimestamp

    async def read(self, queue: str, message: Message) -> Outcome | None:
        """The outcome of one message, or None to leave it on the queue for now."""
        if message.receive_count > self.max_receive_count:
            detail = f"received {message.receive_count} times (limit {self.max_receive_count})"
            return self._quarantine(queue, message, RECEIVE_COUNT_EXCEEDED, detail)
        try:
            return await self._read(queue, message)
        except ReadError as exc:
            return self._quarantine(queue, message, exc.code, exc.detail)
        except CertificateUnavailable:
            return None
        except Exception as exc:
            # The type only: an exception's text may quote the body (an address, say). The consumer
            # logs the quarantine; the stored bytes reproduce the failure.
            return self._quarantine(queue, message, INTERNAL_ERROR, type(exc).__name__)

    async def _read(self, queue: str, message: Message) -> Classified:
        notification = await read_message(
            message.body,
            verifier=self.verifier,
            allowed_topics=self.allowed_topics,
            unsigned_ok=queue in self.unsigned_queues,
            arrival=self._arrival(message),
            allowed_accounts=self.allowed_accounts,
        )
        held = None
        if notification.unreadable_recipients:  # applied without them, and kept for a person
            held = self._quarantine(queue, message, UNREADABLE_RECIPIENTS, unreadable_detail(notification))
        return Classified(
            queue=queue,
            sqs_message_id=message.message_id,
            notification=notification,
            decisions=classify(notification, self.rules),
            sent_at=message.sent_at,
            quarantine=held,
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


def unreadable_detail(notification: Notification) -> str:
    """The quarantine detail of a message applied without its unreadable recipients: how many, and
    each of them (up to NAMED_UNREADABLE) with what is wrong with it."""
    unreadable = notification.unreadable_recipients
    applied = len(notification.recipients)
    named = "; ".join(unreadable[:NAMED_UNREADABLE])
    more = f"; and {len(unreadable) - NAMED_UNREADABLE} more" if len(unreadable) > NAMED_UNREADABLE else ""
    return (
        f"{len(unreadable)} of {len(unreadable) + applied} recipients unreadable, not applied "
        f"(the other {applied} were): {named}{more}"
    )
