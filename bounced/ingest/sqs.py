"""The SQS edge: a thin, typed layer over an aiobotocore SQS client.

Only this module (and the scheduler's outbound send through it) speaks to SQS. It knows which failures
are worth another try (`is_transient`) and turns SQS's replies into small value types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from types_aiobotocore_sqs.client import SQSClient
    from types_aiobotocore_sqs.type_defs import (
        ChangeMessageVisibilityBatchRequestEntryTypeDef,
        DeleteMessageBatchRequestEntryTypeDef,
        MessageTypeDef,
        SendMessageBatchRequestEntryTypeDef,
    )

_T = TypeVar("_T")

# SQS error codes that say "try again later" rather than "you asked for something wrong".
_TRANSIENT_CODES = frozenset(
    {
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "RequestThrottled",
        "ThrottlingException",
        "Throttling",
        "KmsThrottled",
        "RequestTimeout",
    }
)


def is_transient(exc: BaseException) -> bool:
    """Whether an SQS call that raised `exc` may succeed if tried again later."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return code in _TRANSIENT_CODES or status >= 500
    return isinstance(exc, BotoCoreError | aiohttp.ClientError | OSError | TimeoutError)


SQS_FAILURES: tuple[type[BaseException], ...] = (
    ClientError,  # SQS answered no: throttled, a queue deleted, access denied...
    BotoCoreError,  # SQS did not answer, or no credentials
    aiohttp.ClientError,
    OSError,
    TimeoutError,
)
"""What an SQS call raises when SQS (or the way to it) failed, as opposed to a bug of ours."""


def is_sqs_failure(exc: BaseException) -> bool:
    """Whether `exc` is SQS's failure, transient or not (theirs to fix, ours to wait out)."""
    return isinstance(exc, SQS_FAILURES)


def describe_failure(exc: BaseException) -> str:
    """The exception's type, and SQS's error code when it gave one (never a message: it may carry
    data)."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
        return f"{type(exc).__name__}:{code}" if code else type(exc).__name__
    return type(exc).__name__


@dataclass(frozen=True, slots=True)
class Message:
    """One received SQS message."""

    message_id: str
    receipt_handle: str
    body: bytes
    receive_count: int
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """GetQueueAttributes' view of a queue."""

    visible: int
    in_flight: int
    dead_letter_queue_arn: str | None


def _message_from_reply(raw: MessageTypeDef) -> Message:
    attributes = raw.get("Attributes", {})
    sent_ms = attributes.get("SentTimestamp")
    sent_at = datetime.fromtimestamp(int(sent_ms) / 1000, UTC) if sent_ms else None
    return Message(
        message_id=raw["MessageId"],
        receipt_handle=raw["ReceiptHandle"],
        # SQS bodies are Unicode text; the parser reads bytes, as the quarantine keeps them.
        body=str(raw.get("Body", "")).encode("utf-8", "surrogatepass"),
        receive_count=int(attributes.get("ApproximateReceiveCount", "1")),
        sent_at=sent_at,
    )


class SqsQueues:
    """The SQS calls bounced makes, on one aiobotocore client."""

    def __init__(self, client: SQSClient) -> None:
        self._client = client

    async def receive(
        self, queue_url: str, *, max_messages: int, wait_seconds: int, visibility_timeout: int
    ) -> list[Message]:
        """One long poll; an empty list when nothing arrived within the wait."""
        reply = await self._client.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=visibility_timeout,
            MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
        )
        return [_message_from_reply(raw) for raw in reply.get("Messages", [])]

    async def delete(self, queue_url: str, messages: Sequence[Message]) -> list[str]:
        """Delete messages (in batches of ten); return the ids SQS refused to delete."""
        failed: list[str] = []
        for chunk in _chunks(messages, 10):
            entries: list[DeleteMessageBatchRequestEntryTypeDef] = [
                {"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(chunk)
            ]
            reply = await self._client.delete_message_batch(QueueUrl=queue_url, Entries=entries)
            failed.extend(chunk[int(entry["Id"])].message_id for entry in reply.get("Failed", []))
        return failed

    async def change_visibility(self, queue_url: str, messages: Sequence[Message], seconds: int) -> None:
        """Set the visibility timeout of messages still held (0 releases them at once)."""
        for chunk in _chunks(messages, 10):
            entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
                {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": seconds}
                for i, m in enumerate(chunk)
            ]
            await self._client.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)

    async def depth(self, queue_url: str) -> QueueDepth:
        """Visible and in-flight counts, and the dead-letter queue's ARN when one is configured."""
        reply = await self._client.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "RedrivePolicy",
            ],
        )
        attributes = reply.get("Attributes", {})
        return QueueDepth(
            visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            dead_letter_queue_arn=_dead_letter_arn(attributes.get("RedrivePolicy")),
        )

    async def url_of_arn(self, arn: str) -> str:
        """The URL of a queue named by its ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)."""
        _, _, _, _, account, name = arn.split(":", 5)
        reply = await self._client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)
        return str(reply["QueueUrl"])

    async def send_json(self, queue_url: str, bodies: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str]:
        """Send (id, document) pairs as JSON messages; return the ids SQS refused."""
        failed: list[str] = []
        for chunk in _chunks(bodies, 10):
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {"Id": ident, "MessageBody": json.dumps(doc, ensure_ascii=False)} for ident, doc in chunk
            ]
            reply = await self._client.send_message_batch(QueueUrl=queue_url, Entries=entries)
            failed.extend(str(entry["Id"]) for entry in reply.get("Failed", []))
        return failed


def _dead_letter_arn(redrive_policy: str | None) -> str | None:
    if not redrive_policy:
        return None
    try:
        target = json.loads(redrive_policy).get("deadLetterTargetArn")
    except (ValueError, AttributeError):
        return None
    return str(target) if target else None


def _chunks(items: Sequence[_T], size: int) -> list[Sequence[_T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
