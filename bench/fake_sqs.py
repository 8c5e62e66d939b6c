"""A small SQS-compatible server on loopback: the benchmark's load source, never the bottleneck.

It speaks what botocore speaks to SQS (AWS JSON 1.0: `POST /`, `X-Amz-Target: AmazonSQS.<Action>`,
JSON bodies with the API's field names, errors as `__type` plus the query-compatible
`x-amzn-query-error` header), for the actions a consumer uses: GetQueueUrl, CreateQueue,
GetQueueAttributes, ReceiveMessage (long poll that returns as soon as messages exist),
DeleteMessage(+Batch), ChangeMessageVisibility(+Batch), SendMessage(+Batch). Visibility timeouts
are honoured. Every call waits a configurable latency first (default 15 ms, like SQS in-region).

Each message costs O(1) per operation (a deque of visible ids, a dict of messages, a heap of
in-flight deadlines with lazy deletion). Run it in its own process so its CPU is not counted
against the consumer being measured:

    python -m bench.fake_sqs [--port 0] [--messages N] [--latency-ms 15] [--queue-name bounces]
                             [--seed 7] [--visibility-timeout 30]

It prints one line `endpoint=<url> queue_url=<url>` when it is ready, and serves until SIGINT or
SIGTERM. `GET /_stats` (not part of SQS) returns counters the benchmark reads.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import heapq
import itertools
import json
import signal
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

ACCOUNT = "123456789012"
JSON_TYPE = "application/x-amz-json-1.0"
MAX_BATCH = 10
MAX_WAIT_SECONDS = 20

Json = dict[str, Any]


class SqsError(Exception):
    """An SQS error reply: the modeled shape name, the query-compatible code, a message."""

    def __init__(self, shape: str, message: str, query_code: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.shape = shape
        self.query_code = query_code or shape
        self.status = status


def _no_queue() -> SqsError:
    return SqsError(
        "QueueDoesNotExist", "The specified queue does not exist.", "AWS.SimpleQueueService.NonExistentQueue"
    )


@dataclass(slots=True)
class _Message:
    message_id: str
    body: str
    md5: str
    sent_ms: int
    receive_count: int = 0
    visible: bool = True
    generation: int = 0  # bumped whenever its visibility deadline changes; stale heap entries skip


@dataclass
class Stats:
    """Counters the benchmark reads through `GET /_stats`."""

    received: int = 0
    deleted: int = 0
    first_receive_at: float | None = None  # time.perf_counter() of the first non-empty receive
    last_delete_at: float | None = None


class FakeQueue:
    """One standard queue. `now` is injectable (seconds, monotonic) so visibility can be tested."""

    def __init__(
        self, name: str, url: str, visibility_timeout: float = 30.0, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self.url = url
        self.visibility_timeout = visibility_timeout
        self._now = now
        self._messages: dict[str, _Message] = {}
        self._visible: deque[str] = deque()
        self._deadlines: list[tuple[float, int, str, int]] = []  # (visible_at, seq, id, generation)
        self._handles: dict[str, str] = {}  # receipt handle -> message id
        self._seq = itertools.count()
        self._arrival = asyncio.Event()
        self.stats = Stats()

    def send(self, body: str, delay: float = 0.0) -> _Message:
        """Enqueue a body (after `delay` seconds); return the stored message."""
        message = _Message(
            str(uuid.uuid4()),
            body,
            hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 (SQS's own checksum)
            int(time.time() * 1000),
        )
        self._messages[message.message_id] = message
        if delay > 0:
            message.visible = False
            self._schedule(message, delay)
        else:
            self._make_visible(message)
        return message

    def receive(self, limit: int, visibility: float | None = None) -> list[tuple[_Message, str]]:
        """Up to `limit` visible messages, now in flight, each with a fresh receipt handle."""
        self._release_due()
        taken: list[tuple[_Message, str]] = []
        timeout = self.visibility_timeout if visibility is None else visibility
        while self._visible and len(taken) < limit:
            message = self._messages.get(self._visible.popleft())
            if message is None or not message.visible:
                continue  # deleted, or already handed out again through a stale queue entry
            taken.append((message, self._hand_out(message, timeout)))
        if taken:
            self.stats.received += len(taken)
            if self.stats.first_receive_at is None:
                self.stats.first_receive_at = time.perf_counter()
        return taken

    def delete(self, handle: str) -> bool:
        """Delete the message a receipt handle names; False when the handle is unknown."""
        message_id = self._handles.pop(handle, None)
        if message_id is None:
            return False
        if self._messages.pop(message_id, None) is not None:
            self.stats.deleted += 1
            self.stats.last_delete_at = time.perf_counter()
        return True

    def change_visibility(self, handle: str, timeout: float) -> bool:
        """Move an in-flight message's deadline to `timeout` seconds from now."""
        message = self._messages.get(self._handles.get(handle, ""))
        if message is None or message.visible:
            return False
        if timeout <= 0:
            self._make_visible(message)
        else:
            self._schedule(message, timeout)
        return True

    def counts(self) -> tuple[int, int]:
        """(visible, in flight), as ApproximateNumberOfMessages(NotVisible) report them."""
        self._release_due()
        visible = sum(1 for m in self._messages.values() if m.visible)
        return visible, len(self._messages) - visible

    async def wait_for_messages(self, deadline: float) -> None:
        """Return when a message may be visible, or at `deadline` (monotonic seconds)."""
        while not self._has_visible():
            remaining = deadline - self._now()
            if self._deadlines:
                remaining = min(remaining, self._deadlines[0][0] - self._now())
            if remaining <= 0:
                return
            event = self._arrival
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                if self._now() >= deadline:
                    return

    def _has_visible(self) -> bool:
        self._release_due()
        while self._visible:
            message = self._messages.get(self._visible[0])
            if message is not None and message.visible:
                return True
            self._visible.popleft()
        return False

    def _hand_out(self, message: _Message, timeout: float) -> str:
        message.receive_count += 1
        handle = f"{message.message_id}#{next(self._seq)}#{uuid.uuid4().hex}"
        self._handles[handle] = message.message_id
        if timeout <= 0:
            self._make_visible(message)
        else:
            message.visible = False
            self._schedule(message, timeout)
        return handle

    def _schedule(self, message: _Message, seconds: float) -> None:
        message.generation += 1
        heapq.heappush(
            self._deadlines, (self._now() + seconds, next(self._seq), message.message_id, message.generation)
        )

    def _make_visible(self, message: _Message) -> None:
        message.visible = True
        message.generation += 1
        self._visible.append(message.message_id)
        # Wake every waiting long poll; later waiters get a fresh event.
        self._arrival.set()
        self._arrival = asyncio.Event()

    def _release_due(self) -> None:
        now = self._now()
        while self._deadlines and self._deadlines[0][0] <= now:
            _, _, message_id, generation = heapq.heappop(self._deadlines)
            message = self._messages.get(message_id)
            if message is not None and message.generation == generation:
                self._make_visible(message)


class FakeSqs:
    """The queues and the action dispatch; `latency` seconds are waited at the start of every call."""

    def __init__(self, endpoint: str, latency: float = 0.015, visibility_timeout: float = 30.0) -> None:
        self.endpoint = endpoint
        self.latency = latency
        self.visibility_timeout = visibility_timeout
        self.queues: dict[str, FakeQueue] = {}
        self.calls: dict[str, int] = {}
        self._actions: dict[str, Callable[[Json], Awaitable[Json]]] = {
            "GetQueueUrl": self._get_queue_url,
            "CreateQueue": self._create_queue,
            "GetQueueAttributes": self._get_queue_attributes,
            "ReceiveMessage": self._receive_message,
            "DeleteMessage": self._delete_message,
            "DeleteMessageBatch": self._delete_message_batch,
            "ChangeMessageVisibility": self._change_visibility,
            "ChangeMessageVisibilityBatch": self._change_visibility_batch,
            "SendMessage": self._send_message,
            "SendMessageBatch": self._send_message_batch,
        }

    def create(self, name: str) -> FakeQueue:
        """The queue called `name`, created if new."""
        if name not in self.queues:
            url = f"{self.endpoint}/{ACCOUNT}/{name}"
            self.queues[name] = FakeQueue(name, url, self.visibility_timeout)
        return self.queues[name]

    async def call(self, action: str, params: Json) -> Json:
        """Run one action after the configured latency."""
        handler = self._actions.get(action)
        if handler is None:
            raise SqsError(
                "UnsupportedOperation",
                f"{action} is not supported by the fake.",
                "AWS.SimpleQueueService.UnsupportedOperation",
            )
        self.calls[action] = self.calls.get(action, 0) + 1
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        return await handler(params)

    def stats(self) -> Json:
        """Counters per queue and calls per action, for the benchmark."""
        queues = {}
        for name, queue in self.queues.items():
            visible, in_flight = queue.counts()
            queues[name] = {**asdict(queue.stats), "visible": visible, "in_flight": in_flight}
        return {"queues": queues, "calls": dict(self.calls)}

    def _queue(self, params: Json) -> FakeQueue:
        url = str(params.get("QueueUrl", ""))
        queue = self.queues.get(url.rstrip("/").rsplit("/", 1)[-1])
        if queue is None:
            raise _no_queue()
        return queue

    async def _get_queue_url(self, params: Json) -> Json:
        queue = self.queues.get(str(params.get("QueueName", "")))
        if queue is None:
            raise _no_queue()
        return {"QueueUrl": queue.url}

    async def _create_queue(self, params: Json) -> Json:
        return {"QueueUrl": self.create(str(params["QueueName"])).url}

    async def _get_queue_attributes(self, params: Json) -> Json:
        queue = self._queue(params)
        visible, in_flight = queue.counts()
        attributes = {
            "ApproximateNumberOfMessages": str(visible),
            "ApproximateNumberOfMessagesNotVisible": str(in_flight),
            "ApproximateNumberOfMessagesDelayed": "0",
            "VisibilityTimeout": str(int(queue.visibility_timeout)),
            "QueueArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{queue.name}",
        }
        wanted = params.get("AttributeNames") or ["All"]
        if "All" not in wanted:
            attributes = {k: v for k, v in attributes.items() if k in wanted}
        return {"Attributes": attributes}

    async def _receive_message(self, params: Json) -> Json:
        queue = self._queue(params)
        limit = int(params.get("MaxNumberOfMessages") or 1)
        if not 1 <= limit <= MAX_BATCH:
            raise SqsError("InvalidParameterValue", "MaxNumberOfMessages must be between 1 and 10.")
        wait = min(float(params.get("WaitTimeSeconds") or 0), MAX_WAIT_SECONDS)
        visibility = params.get("VisibilityTimeout")
        deadline = time.monotonic() + wait
        taken = queue.receive(limit, None if visibility is None else float(visibility))
        while not taken and time.monotonic() < deadline:
            await queue.wait_for_messages(deadline)
            taken = queue.receive(limit, None if visibility is None else float(visibility))
        names = set(params.get("MessageSystemAttributeNames") or params.get("AttributeNames") or ())
        return {"Messages": [_message_json(m, handle, names) for m, handle in taken]}

    async def _delete_message(self, params: Json) -> Json:
        if not self._queue(params).delete(str(params.get("ReceiptHandle", ""))):
            raise SqsError("ReceiptHandleIsInvalid", "The input receipt handle is invalid.")
        return {}

    async def _delete_message_batch(self, params: Json) -> Json:
        queue = self._queue(params)
        return _batch(
            params.get("Entries"), "Delete", lambda e: queue.delete(str(e.get("ReceiptHandle", "")))
        )

    async def _change_visibility(self, params: Json) -> Json:
        queue = self._queue(params)
        if not queue.change_visibility(
            str(params.get("ReceiptHandle", "")), float(params["VisibilityTimeout"])
        ):
            raise SqsError(
                "MessageNotInflight",
                "The message is not in flight.",
                "AWS.SimpleQueueService.MessageNotInflight",
            )
        return {}

    async def _change_visibility_batch(self, params: Json) -> Json:
        queue = self._queue(params)
        return _batch(
            params.get("Entries"),
            "ChangeMessageVisibility",
            lambda e: queue.change_visibility(str(e.get("ReceiptHandle", "")), float(e["VisibilityTimeout"])),
        )

    async def _send_message(self, params: Json) -> Json:
        message = self._queue(params).send(str(params["MessageBody"]), float(params.get("DelaySeconds") or 0))
        return {"MessageId": message.message_id, "MD5OfMessageBody": message.md5}

    async def _send_message_batch(self, params: Json) -> Json:
        queue = self._queue(params)
        entries = _checked_entries(params.get("Entries"), "Send")
        sent = [
            (e["Id"], queue.send(str(e["MessageBody"]), float(e.get("DelaySeconds") or 0))) for e in entries
        ]
        return {
            "Successful": [{"Id": i, "MessageId": m.message_id, "MD5OfMessageBody": m.md5} for i, m in sent],
            "Failed": [],
        }


def _message_json(message: _Message, handle: str, names: set[str]) -> Json:
    attributes = {
        "ApproximateReceiveCount": str(message.receive_count),
        "SentTimestamp": str(message.sent_ms),
        "ApproximateFirstReceiveTimestamp": str(message.sent_ms),
    }
    if "All" not in names:
        attributes = {k: v for k, v in attributes.items() if k in names}
    reply: Json = {
        "MessageId": message.message_id,
        "ReceiptHandle": handle,
        "MD5OfBody": message.md5,
        "Body": message.body,
    }
    if attributes:
        reply["Attributes"] = attributes
    return reply


def _checked_entries(entries: Any, verb: str) -> list[Json]:
    if not entries:
        raise SqsError(
            "EmptyBatchRequest",
            f"There should be at least one {verb}MessageBatchRequestEntry.",
            "AWS.SimpleQueueService.EmptyBatchRequest",
        )
    if len(entries) > MAX_BATCH:
        raise SqsError(
            "TooManyEntriesInBatchRequest",
            "Maximum number of entries per request are 10.",
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        )
    if len({e.get("Id") for e in entries}) != len(entries):
        raise SqsError(
            "BatchEntryIdsNotDistinct",
            "Two or more batch entries have the same Id.",
            "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        )
    return list(entries)


def _batch(entries: Any, verb: str, apply: Callable[[Json], bool]) -> Json:
    successful, failed = [], []
    for entry in _checked_entries(entries, verb):
        if apply(entry):
            successful.append({"Id": entry["Id"]})
        else:
            failed.append(
                {
                    "Id": entry["Id"],
                    "SenderFault": True,
                    "Code": "ReceiptHandleIsInvalid",
                    "Message": "The input receipt handle is invalid.",
                }
            )
    return {"Successful": successful, "Failed": failed}


def build_app(service: FakeSqs) -> web.Application:
    """The aiohttp application serving `service`."""

    async def handle(request: web.Request) -> web.Response:
        target = request.headers.get("X-Amz-Target", "")
        action = target.removeprefix("AmazonSQS.")
        try:
            params = json.loads(await request.read() or b"{}")
            reply = await service.call(action, params)
        except SqsError as error:
            return _error_response(error)
        except (KeyError, ValueError, TypeError) as error:
            return _error_response(SqsError("InvalidParameterValue", f"bad request: {error!r}"))
        return web.Response(body=json.dumps(reply).encode(), headers=_headers())

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(service.stats())

    app = web.Application(client_max_size=2**20 * 4)
    app.router.add_post("/", handle)
    app.router.add_get("/_stats", stats)
    return app


def _headers() -> dict[str, str]:
    return {"Content-Type": JSON_TYPE, "x-amzn-RequestId": str(uuid.uuid4())}


def _error_response(error: SqsError) -> web.Response:
    body = {"__type": f"com.amazonaws.sqs#{error.shape}", "message": str(error)}
    headers = {**_headers(), "x-amzn-query-error": f"{error.query_code};Sender"}
    return web.Response(status=error.status, body=json.dumps(body).encode(), headers=headers)


@asynccontextmanager
async def serve(
    port: int = 0,
    latency: float = 0.015,
    visibility_timeout: float = 30.0,
    queue_name: str = "bounces",
    bodies: Iterable[str] = (),
) -> AsyncIterator[FakeSqs]:
    """Serve a fake SQS on 127.0.0.1 in this event loop, with one queue pre-loaded with `bodies`."""
    service = FakeSqs("", latency, visibility_timeout)
    runner = web.AppRunner(build_app(service), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = runner.addresses[0][1]
    service.endpoint = f"http://127.0.0.1:{bound}"
    queue = service.create(queue_name)
    for body in bodies:
        queue.send(body)
    try:
        yield service
    finally:
        await runner.cleanup()


async def _main(args: argparse.Namespace) -> None:
    from bench import bodies  # noqa: PLC0415 (only the command line pre-loads generated bodies)

    texts = (body.text for body in bodies.generate(args.messages, args.seed))
    async with serve(
        args.port, args.latency_ms / 1000, args.visibility_timeout, args.queue_name, texts
    ) as sqs:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"endpoint={sqs.endpoint} queue_url={sqs.queues[args.queue_name].url}", flush=True)
        await stop.wait()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line of `python -m bench.fake_sqs`."""
    parser = argparse.ArgumentParser(prog="python -m bench.fake_sqs", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--messages", type=int, default=1000, help="generated notifications to pre-load")
    parser.add_argument("--latency-ms", type=float, default=15.0, help="wait before answering each call")
    parser.add_argument("--queue-name", default="bounces")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated notifications")
    parser.add_argument("--visibility-timeout", type=float, default=30.0, help="queue default, seconds")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(_main(parse_args()))
