"""The value types every other module speaks in.

Pure data: no I/O library is imported here. A `Notification` is what the parser makes of one SQS
message body; a `Decision` is what the classifier decides for one of its recipients.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Kind(StrEnum):
    """What a notification reports. The values are the `kind` field of every JSON contract."""

    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    DELIVERY = "delivery"
    DELIVERY_DELAY = "delivery_delay"
    SEND = "send"
    REJECT = "reject"
    OPEN = "open"
    CLICK = "click"
    RENDERING_FAILURE = "rendering_failure"
    SUBSCRIPTION = "subscription"
    # SNS SubscriptionConfirmation and UnsubscribeConfirmation: both are SNS housekeeping with no
    # recipients; `Notification.sns_type` tells them apart.
    SUBSCRIPTION_CONFIRMATION = "subscription_confirmation"


class Action(StrEnum):
    """What bounced does to one recipient."""

    SUPPRESS = "suppress"  # never send again (only a person lifts it)
    RETRY = "retry"  # transient: defer, try again after a backoff window
    REVIEW = "review"  # a person must look (the message, not the address, may be at fault)
    CLEAR = "clear"  # delivered: the address works
    IGNORE = "ignore"  # no effect on the list


class Status(StrEnum):
    """The state of one address."""

    ACTIVE = "active"
    DEFERRED = "deferred"
    SUPPRESSED = "suppressed"
    REVIEW = "review"


class TimeSource(StrEnum):
    """Where a notification's `occurred_at` came from (see `bounced.core.timing`)."""

    FEEDBACK = "feedback"  # the type's own object: bounce.timestamp, delivery.timestamp, ...
    MAIL = "mail"  # mail.timestamp
    ENVELOPE = "envelope"  # the SNS envelope's Timestamp, or the EventBridge event's time
    SQS = "sqs"  # the SQS SentTimestamp: nothing earlier in that list was present and trusted
    RECEIVED = "received"  # bounced's clock, where there is no SentTimestamp (`bounced classify`)
    UNKNOWN = "unknown"  # no time at all and no arrival given (bodies parsed alone, in tests)


class PayloadSource(StrEnum):
    """How the SES record reached the queue. The values are `notifications.source`."""

    SNS = "sns"  # inside an SNS envelope
    EVENTBRIDGE = "eventbridge"  # an EventBridge event's `detail`
    RAW = "raw"  # the body itself (SNS raw message delivery)


@dataclass(frozen=True, slots=True)
class Recipient:
    """One recipient a notification is about, with the DSN fields SES passes on when it has them."""

    address: str  # normalised: the addr-spec, lower-cased (Unicode-aware, no IDNA conversion)
    dsn_action: str | None = None
    dsn_status: str | None = None  # RFC 3463 enhanced status code, e.g. "5.1.1"
    diagnostic_code: str | None = None


@dataclass(frozen=True, slots=True)
class SnsEnvelope:
    """The SNS envelope around a message (raw message delivery has none), its fields as SNS sent them:
    exactly the strings the signature covers."""

    type: str  # Notification, SubscriptionConfirmation, UnsubscribeConfirmation
    message_id: str
    topic_arn: str
    message: str  # the SES JSON, as the string SNS signed
    timestamp: str
    signature_version: str | None = None
    signature: str | None = None
    signing_cert_url: str | None = None
    subject: str | None = None  # Notification only, when present
    subscribe_url: str | None = None  # confirmations only
    token: str | None = None  # confirmations only
    unsubscribe_url: str | None = None


@dataclass(frozen=True, slots=True)
class EventBridgeEnvelope:
    """The EventBridge event around an SES event-publishing record (its `detail`). Unsigned: what
    vouches for it is the queue policy that lets only the EventBridge rule send."""

    event_id: str  # `id`
    source: str  # always "aws.ses" once read (`bounced.core.envelope` refuses any other)
    detail_type: str  # "Email Bounced", "Email Complaint Received", ...
    account: str | None = None  # the AWS account that published it (12 digits)
    time: str | None = None  # when EventBridge says the event happened, verbatim
    region: str | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    """One SES notification or event, whichever of the two formats and envelopes it came in."""

    kind: Kind
    occurred_at: datetime  # when SES says it happened (timezone-aware, UTC)
    recipients: tuple[Recipient, ...]
    ses_message_id: str | None = None  # mail.messageId: SES's id of the mail that was sent
    feedback_id: str | None = None  # bounce/complaint feedbackId, when SES gives one
    bounce_type: str | None = None
    bounce_subtype: str | None = None
    complaint_feedback_type: str | None = None
    complaint_subtype: str | None = None
    delay_type: str | None = None
    # The SNS envelope, when there was one (raw message delivery has none).
    envelope: SnsEnvelope | None = None
    # The SES JSON itself (the SNS Message field, the EventBridge `detail` as compact JSON, or the raw
    # body), kept for the audit log.
    payload: str = ""
    # Which of the notification's times `occurred_at` is, and the time it claimed when that one was
    # not trusted (later than its arrival allows, or unreadable), verbatim (cut to 100 characters).
    time_source: TimeSource = TimeSource.FEEDBACK
    claimed_time: str | None = None
    # The recipient entries that could not be read (left out of `recipients`), each described for a
    # person: the value quoted in ASCII and what is wrong with it. Addresses: never log these.
    unreadable_recipients: tuple[str, ...] = ()
    # The EventBridge event the record came in, when it came that way (then `envelope` is None).
    eventbridge: EventBridgeEnvelope | None = None

    @property
    def source(self) -> PayloadSource:
        """How the SES record reached the queue."""
        if self.envelope is not None:
            return PayloadSource.SNS
        return PayloadSource.EVENTBRIDGE if self.eventbridge is not None else PayloadSource.RAW

    @property
    def idempotency_id(self) -> str | None:
        """The id that, with kind and recipient, names this notification in the audit log."""
        return self.feedback_id or self.ses_message_id


@dataclass(frozen=True, slots=True)
class Decision:
    """What bounced does to one recipient of one notification, and why."""

    action: Action
    address: str | None  # None only for a notification with no recipients (action IGNORE)
    reason: str  # the diagnostic taxonomy: user-unknown, mailbox-full, ... (see classify)
    # The key of the retry policy's window list for a RETRY ("General", "MailboxFull",
    # "DeliveryDelay.RecipientServerError", ...); None for other actions.
    cause: str | None = None
    # Set by the classifier when a transient bounce says the address or domain does not exist and
    # the operator opted in to escalating those: the store suppresses instead of retrying.
    escalate: bool = False


class ReadError(ValueError):
    """A message body bounced cannot read or trust. `code` is a short stable label (a metric label
    and the quarantine's reason); `detail` says what is wrong, fit for an operator."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Classified:
    """One SQS message that was read: its notification and a decision per recipient, to commit."""

    queue: str  # the queue's short name (bounce, complaint, delivery, or as configured)
    sqs_message_id: str
    notification: Notification
    decisions: tuple[Decision, ...]
    sent_at: datetime | None = None  # SQS SentTimestamp, for the lag metric
    # Set when some recipients could not be read: the message is also kept in the quarantine (raw
    # bytes and the unreadable recipients named), committed with the rest.
    quarantine: Quarantined | None = None


@dataclass(frozen=True, slots=True)
class Quarantined:
    """One SQS message that could not be read or trusted, to keep with its raw bytes and the reason."""

    queue: str
    sqs_message_id: str
    body: bytes
    code: str  # ReadError.code, or the reader's "receive_count_exceeded" / "internal_error"
    detail: str
    receive_count: int = 1


Outcome = Classified | Quarantined
