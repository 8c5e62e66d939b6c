"""The test tiers' real parts answer: PostgreSQL and moto over HTTP through aiobotocore."""

from __future__ import annotations

import asyncpg
from aiobotocore.session import get_session


async def test_postgres_is_real(empty_database: str) -> None:
    conn = await asyncpg.connect(empty_database)
    try:
        assert await conn.fetchval("SELECT 40 + 2") == 42
    finally:
        await conn.close()


async def test_moto_speaks_sqs_over_http(aws_env: str) -> None:
    session = get_session()
    async with session.create_client("sqs", endpoint_url=aws_env) as sqs:
        url = (await sqs.create_queue(QueueName="probe"))["QueueUrl"]
        await sqs.send_message(QueueUrl=url, MessageBody="hello")
        reply = await sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
        assert [m["Body"] for m in reply["Messages"]] == ["hello"]
