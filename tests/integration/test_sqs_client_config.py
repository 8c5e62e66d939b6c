"""The daemon's SQS client makes one try per call: the consumer's own retries are the only ones.

A server on 127.0.0.1 that answers every request with a 500 counts what botocore sends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiobotocore.session import get_session
from aiohttp import web
from botocore.exceptions import ClientError

from bounced.service.daemon import sqs_client_config


@pytest.fixture
async def failing_sqs() -> AsyncIterator[tuple[str, list[str]]]:
    seen: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request.headers.get("X-Amz-Target", ""))
        body = '{"__type": "com.amazonaws.sqs#InternalError", "message": "down"}'
        return web.Response(status=500, text=body, content_type="application/x-amz-json-1.0")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_a_failed_call_is_sent_once(
    failing_sqs: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, seen = failing_sqs
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    config = sqs_client_config(pollers=3, wait_time_seconds=1)
    session = get_session()
    async with session.create_client(
        "sqs", region_name="us-east-1", endpoint_url=endpoint, config=config
    ) as client:
        with pytest.raises(ClientError):
            await client.get_queue_attributes(QueueUrl=f"{endpoint}/123456789012/q")
    assert seen == ["AmazonSQS.GetQueueAttributes"]
