"""The benchmark's load source speaks SQS as botocore speaks it: driven here through aiobotocore."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from bench import bodies
from bench.fake_sqs import FakeQueue, FakeSqs, serve

pytestmark = pytest.mark.integration

Client = Any  # aiobotocore's SQS client is generated at run time


@pytest.fixture
async def sqs() -> AsyncIterator[tuple[FakeSqs, Client]]:
    """A fake SQS with 25 realistic notifications pre-loaded, no latency, and a client on it."""
    texts = [body.text for body in bodies.generate(25)]
    async with serve(latency=0.0, bodies=texts) as service:
        session = get_session()
        async with session.create_client(
            "sqs",
            region_name="us-east-1",
            endpoint_url=service.endpoint,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        ) as client:
            yield service, client


async def test_receives_ten_with_correct_md5_and_system_attributes(sqs: tuple[FakeSqs, Client]) -> None:
    service, client = sqs
    url = (await client.get_queue_url(QueueName="bounces"))["QueueUrl"]
    reply = await client.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=1,
        MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
    )
    messages = reply["Messages"]
    assert len(messages) == 10
    for message in messages:
        assert message["MD5OfBody"] == hashlib.md5(message["Body"].encode()).hexdigest()  # noqa: S324
        assert message["Attributes"]["ApproximateReceiveCount"] == "1"
        assert int(message["Attributes"]["SentTimestamp"]) > 0
    assert service.stats()["queues"]["bounces"]["in_flight"] == 10


async def test_delete_batch_reports_each_entry(sqs: tuple[FakeSqs, Client]) -> None:
    service, client = sqs
    url = service.queues["bounces"].url
    messages = (await client.receive_message(QueueUrl=url, MaxNumberOfMessages=3))["Messages"]
    entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
    entries.append({"Id": "bad", "ReceiptHandle": "no-such-handle"})
    reply = await client.delete_message_batch(QueueUrl=url, Entries=entries)
    assert sorted(e["Id"] for e in reply["Successful"]) == ["0", "1", "2"]
    assert [(e["Id"], e["Code"]) for e in reply["Failed"]] == [("bad", "ReceiptHandleIsInvalid")]
    attributes = await client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "22"
    assert attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert "RedrivePolicy" not in attributes["Attributes"]


async def test_a_message_returns_when_its_visibility_ends(sqs: tuple[FakeSqs, Client]) -> None:
    _, client = sqs
    url = (await client.create_queue(QueueName="one"))["QueueUrl"]
    await client.send_message(QueueUrl=url, MessageBody="only")
    first = (await client.receive_message(QueueUrl=url, MaxNumberOfMessages=10))["Messages"][0]
    assert (await client.receive_message(QueueUrl=url)).get("Messages", []) == []
    await client.change_message_visibility(
        QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0
    )
    again = await client.receive_message(
        QueueUrl=url, MessageSystemAttributeNames=["ApproximateReceiveCount"]
    )
    (returned,) = again["Messages"]
    assert returned["MessageId"] == first["MessageId"]
    assert returned["Attributes"]["ApproximateReceiveCount"] == "2"


def test_visibility_deadline_passes_on_the_queue_clock() -> None:
    clock = [100.0]
    queue = FakeQueue("q", "http://127.0.0.1/123/q", visibility_timeout=30, now=lambda: clock[0])
    queue.send("hello")
    assert len(queue.receive(10)) == 1
    assert queue.receive(10) == []
    clock[0] += 30
    (message, _), *_ = queue.receive(10)
    assert (message.body, message.receive_count) == ("hello", 2)


async def test_send_batch_then_errors_are_modeled(sqs: tuple[FakeSqs, Client]) -> None:
    _, client = sqs
    url = (await client.create_queue(QueueName="retries"))["QueueUrl"]
    sent = await client.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "x"}])
    assert sent["Successful"][0]["MD5OfMessageBody"] == hashlib.md5(b"x").hexdigest()  # noqa: S324
    with pytest.raises(client.exceptions.QueueDoesNotExist):
        await client.get_queue_url(QueueName="missing")
    with pytest.raises(ClientError) as caught:
        await client.delete_message(QueueUrl=url, ReceiptHandle="nope")
    assert caught.value.response["Error"]["Code"] == "ReceiptHandleIsInvalid"


async def test_empty_long_poll_waits_then_returns_nothing(sqs: tuple[FakeSqs, Client]) -> None:
    service, client = sqs
    url = (await client.create_queue(QueueName="empty"))["QueueUrl"]
    started = time.monotonic()
    reply = await client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    assert reply.get("Messages", []) == []
    # Behaviour, not speed: an empty long poll holds the call for its wait instead of answering at once.
    assert time.monotonic() - started >= 0.9
    assert service.calls["ReceiveMessage"] == 1
