"""The aiobotocore SQS client every baseline uses, sized for its pollers."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session


@asynccontextmanager
async def client(endpoint: str | None, pollers: int) -> AsyncIterator[Any]:
    """An SQS client whose connection pool fits `pollers` concurrent long polls (botocore's default of 10
    would queue the rest behind them). Region and credentials come from the usual AWS variables."""
    config = AioConfig(
        max_pool_connections=max(10, pollers * 2), retries={"max_attempts": 3, "mode": "standard"}
    )
    async with get_session().create_client("sqs", endpoint_url=endpoint, config=config) as sqs:
        yield sqs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options the baselines share."""
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--endpoint", default=None, help="SQS endpoint (default: AWS_ENDPOINT_URL or AWS)")
    parser.add_argument("--wait", type=int, default=1, help="long-poll WaitTimeSeconds; an empty poll ends")
