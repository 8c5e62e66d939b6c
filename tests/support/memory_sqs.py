"""An SQS in memory, for unit tests of the consumer and the scheduler that run in milliseconds.

It implements what they need of SQS (bounced.ingest.consumer.Queues, bounced.service.scheduler.Outbound)
with SQS's own rules, timed by the test's clock:
- a receive takes up to `max_messages` visible messages, makes them invisible for its visibility
  timeout and gives each a new receipt handle (an older handle no longer deletes it);
- a long poll with nothing visible waits for a message or for its wait to pass on the clock;
- a long poll the client abandons (cancelled) stays open on the "server" until its wait passes, and
  a message that arrives meanwhile goes to it and is lost to everyone for its visibility timeout: what
  real SQS does, and why a poller must not cancel its last receive at the stop.
Failures are injected per call (`fail_next`) as botocore's own ClientError.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from bounced.core.clock import Clock
from bounced.ingest.sqs import Message


def sqs_error(code: str, operation: str, status: int = 400) -> ClientError:
    """The ClientError botocore raises when SQS answers `code`."""
    reply: Any = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(reply, operation)


@dataclass
class Stored:
    """One message as the queue holds it."""

    message_id: str
    body: str
    sent_at: datetime
    visible_at: datetime
    receive_count: int = 0
    receipt_handle: str | None = None


@dataclass
class _Poll:
    max_messages: int
    visibility_timeout: int
    until: datetime
    reply: asyncio.Future[list[Message]]
    abandoned: bool = False


@dataclass
class MemoryQueue:
    """One queue: its messages in order, and the long polls waiting on it."""

    url: str
    messages: dict[str, Stored] = field(default_factory=dict)
    polls: list[_Poll] = field(default_factory=list)
    bodies_sent: list[str] = field(default_factory=list)


class MemorySqs:
    """Queues by URL, on `clock`."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.queues: dict[str, MemoryQueue] = {}
        self._ids = itertools.count(1)
        self._failures: dict[str, list[BaseException]] = {}
        self.calls: list[str] = []  # the operations in the order they ran

    def create_queue(self, name: str) -> str:
        url = f"memory://sqs/000000000000/{name}"
        self.queues[url] = MemoryQueue(url)
        return url

    def delete_queue(self, url: str) -> None:
        del self.queues[url]

    def fail_next(self, operation: str, *errors: BaseException) -> None:
        """The next calls of `operation` (receive, delete, change_visibility, send_json) raise these."""
        self._failures.setdefault(operation, []).extend(errors)

    def send(self, url: str, body: str) -> str:
        """Put a message on a queue (what a publisher does); its id."""
        queue = self._queue(url, "SendMessage")
        now = self._clock.now()
        message_id = f"m-{next(self._ids)}"
        queue.messages[message_id] = Stored(message_id, body, now, visible_at=now)
        self._serve_polls(queue)
        return message_id

    def visible(self, url: str) -> int:
        now = self._clock.now()
        return sum(1 for m in self.queues[url].messages.values() if m.visible_at <= now)

    def in_flight(self, url: str) -> int:
        return len(self.queues[url].messages) - self.visible(url)

    def waiting_polls(self, url: str) -> int:
        """Long polls open on the queue (abandoned ones included) whose wait has not passed."""
        now = self._clock.now()
        return sum(1 for p in self.queues[url].polls if p.until > now and not p.reply.done())

    async def receive(
        self, queue_url: str, *, max_messages: int, wait_seconds: int, visibility_timeout: int
    ) -> list[Message]:
        self._call("receive")
        queue = self._queue(queue_url, "ReceiveMessage")
        taken = self._take(queue, max_messages, visibility_timeout)
        if taken or wait_seconds <= 0:
            return taken
        poll = _Poll(
            max_messages,
            visibility_timeout,
            self._clock.now() + timedelta(seconds=wait_seconds),
            asyncio.get_running_loop().create_future(),
        )
        queue.polls.append(poll)
        return await self._wait(queue, poll, wait_seconds)

    async def _wait(self, queue: MemoryQueue, poll: _Poll, wait_seconds: int) -> list[Message]:
        waited = asyncio.ensure_future(self._clock.sleep(wait_seconds))
        either: list[asyncio.Future[Any]] = [poll.reply, waited]
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            poll.abandoned = True  # still open on the server until its wait passes
            raise
        finally:
            waited.cancel()
            await asyncio.wait([waited])
        if poll.reply.done():
            return poll.reply.result()
        queue.polls.remove(poll)
        return self._take(queue, poll.max_messages, poll.visibility_timeout)

    async def delete(self, queue_url: str, messages: Sequence[Message]) -> list[str]:
        self._call("delete")
        queue = self._queue(queue_url, "DeleteMessageBatch")
        failed = []
        for message in messages:
            stored = queue.messages.get(message.message_id)
            if stored is None or stored.receipt_handle != message.receipt_handle:
                failed.append(message.message_id)  # ReceiptHandleIsInvalid, per entry
            else:
                del queue.messages[message.message_id]
        return failed

    async def change_visibility(self, queue_url: str, messages: Sequence[Message], seconds: int) -> None:
        self._call("change_visibility")
        queue = self._queue(queue_url, "ChangeMessageVisibilityBatch")
        for message in messages:
            stored = queue.messages.get(message.message_id)
            if stored is not None and stored.receipt_handle == message.receipt_handle:
                stored.visible_at = self._clock.now() + timedelta(seconds=seconds)
        self._serve_polls(queue)

    async def send_json(self, queue_url: str, bodies: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str]:
        self._call("send_json")
        queue = self._queue(queue_url, "SendMessageBatch")
        for _, document in bodies:
            queue.bodies_sent.append(json.dumps(document))
        return []

    def sent_documents(self, url: str) -> list[dict[str, Any]]:
        """What send_json put on a queue, decoded."""
        return [json.loads(body) for body in self.queues[url].bodies_sent]

    def _call(self, operation: str) -> None:
        self.calls.append(operation)
        pending = self._failures.get(operation)
        if pending:
            raise pending.pop(0)

    def _queue(self, url: str, operation: str) -> MemoryQueue:
        queue = self.queues.get(url)
        if queue is None:
            raise sqs_error("AWS.SimpleQueueService.NonExistentQueue", operation)
        return queue

    def _take(self, queue: MemoryQueue, limit: int, visibility_timeout: int) -> list[Message]:
        now = self._clock.now()
        taken: list[Message] = []
        for stored in queue.messages.values():
            if len(taken) == limit:
                break
            if stored.visible_at <= now:
                stored.receive_count += 1
                stored.receipt_handle = f"{stored.message_id}/{next(self._ids)}"
                stored.visible_at = now + timedelta(seconds=visibility_timeout)
                taken.append(_as_message(stored))
        return taken

    def _serve_polls(self, queue: MemoryQueue) -> None:
        """Hand visible messages to the open long polls, oldest first (abandoned ones too)."""
        now = self._clock.now()
        for poll in list(queue.polls):
            if poll.until <= now or poll.reply.done():
                queue.polls.remove(poll)
                continue
            taken = self._take(queue, poll.max_messages, poll.visibility_timeout)
            if not taken:
                return
            queue.polls.remove(poll)
            poll.reply.set_result(taken)


def _as_message(stored: Stored) -> Message:
    assert stored.receipt_handle is not None
    return Message(
        message_id=stored.message_id,
        receipt_handle=stored.receipt_handle,
        body=stored.body.encode(),
        receive_count=stored.receive_count,
        sent_at=stored.sent_at,
    )
