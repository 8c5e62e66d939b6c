"""The bare drain: P pollers doing ReceiveMessage(10, long poll) + DeleteMessageBatch and no work.

The cost no consumer can avoid. Each poller stops at its first empty receive; the process exits when
all have stopped and prints one JSON line (`drained`, `seconds`).

    python -m bench.drain --queue-url URL [--endpoint URL] [--pollers 1] [--wait 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from bench import sqs_client


async def poller(sqs: Any, queue_url: str, wait: int) -> int:
    """Receive and delete batches until a receive comes back empty; return how many were deleted."""
    count = 0
    while True:
        reply = await sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait)
        messages = reply.get("Messages", [])
        if not messages:
            return count
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        await sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        count += len(messages)


async def drain(queue_url: str, endpoint: str | None, pollers: int, wait: int) -> int:
    """Run `pollers` pollers on one client until the queue is empty; return the total deleted."""
    async with sqs_client.client(endpoint, pollers) as sqs:
        counts = await asyncio.gather(*(poller(sqs, queue_url, wait) for _ in range(pollers)))
    return sum(counts)


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m bench.drain`."""
    parser = argparse.ArgumentParser(prog="python -m bench.drain", description=__doc__.splitlines()[0])
    sqs_client.add_arguments(parser)
    parser.add_argument("--pollers", type=int, default=1)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    total = asyncio.run(drain(args.queue_url, args.endpoint, args.pollers, args.wait))
    print(json.dumps({"drained": total, "seconds": round(time.perf_counter() - started, 3)}))


if __name__ == "__main__":
    main()
