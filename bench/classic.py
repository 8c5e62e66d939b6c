"""The classic loop of the AWS sample: receive ONE message, parse it, one INSERT in its own
transaction, delete that one message; again, until a receive comes back empty.

The sample is a single loop; `--loops` runs several side by side (the benchmark measures 1).

    python -m bench.classic --queue-url URL --dsn DSN [--endpoint URL] [--loops 1] [--wait 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import asyncpg

from bench import sqs_client

CREATE = """
CREATE TABLE IF NOT EXISTS classic_notifications (
    id bigserial PRIMARY KEY,
    sqs_message_id text NOT NULL,
    notification_type text,
    payload jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
)
"""
INSERT = "INSERT INTO classic_notifications (sqs_message_id, notification_type, payload) VALUES ($1, $2, $3)"


def parse(body: str) -> dict[str, Any]:
    """The SES JSON inside an SQS body, unwrapping an SNS envelope when there is one."""
    document: dict[str, Any] = json.loads(body)
    if document.get("Type") == "Notification" and "Message" in document:
        inner: dict[str, Any] = json.loads(document["Message"])
        return inner
    return document


async def loop(sqs: Any, pool: asyncpg.Pool, queue_url: str, wait: int) -> int:
    """One classic loop until the queue is empty; return how many messages it handled."""
    count = 0
    while True:
        reply = await sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=wait)
        messages = reply.get("Messages", [])
        if not messages:
            return count
        message = messages[0]
        ses = parse(message["Body"])
        kind = ses.get("notificationType") or ses.get("eventType")
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(INSERT, message["MessageId"], kind, json.dumps(ses))
        await sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        count += 1


async def run(queue_url: str, endpoint: str | None, dsn: str, loops: int, wait: int) -> int:
    """Create the table, run `loops` loops, return the total handled."""
    async with asyncpg.create_pool(dsn, min_size=loops, max_size=loops) as pool:
        await pool.execute(CREATE)
        async with sqs_client.client(endpoint, loops) as sqs:
            counts = await asyncio.gather(*(loop(sqs, pool, queue_url, wait) for _ in range(loops)))
    return sum(counts)


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m bench.classic`."""
    parser = argparse.ArgumentParser(prog="python -m bench.classic", description=__doc__.splitlines()[0])
    sqs_client.add_arguments(parser)
    parser.add_argument("--dsn", required=True, help="PostgreSQL DSN")
    parser.add_argument("--loops", type=int, default=1)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    total = asyncio.run(run(args.queue_url, args.endpoint, args.dsn, args.loops, args.wait))
    print(json.dumps({"handled": total, "seconds": round(time.perf_counter() - started, 3)}))


if __name__ == "__main__":
    main()
