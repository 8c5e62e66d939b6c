"""Background tasks and their peers: a pure backoff, and a loop that counts a peer's failure, waits
longer after each, and lets only a bug through."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bounced.service.supervise import Backoff, backoff_delay, is_peer_failure, run_every
from tests.support.clock import ManualClock

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def no_such_queue() -> ClientError:
    reply: Any = {  # SQS's reply, as much of it as is_transient reads
        "Error": {"Code": "QueueDoesNotExist", "Message": "gone"},
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }
    return ClientError(reply, "SendMessageBatch")


def test_backoff_doubles_from_the_first_wait_up_to_the_longest() -> None:
    assert [backoff_delay(n, 0.5, 10.0) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff_delay(10_000, 1.0, 60.0) == 60.0  # no overflow however long the outage
    with pytest.raises(ValueError, match="1-based"):
        backoff_delay(0, 1.0, 2.0)


def test_sqs_and_postgres_failures_are_peers_and_a_type_error_is_a_bug() -> None:
    assert is_peer_failure(no_such_queue())
    assert is_peer_failure(ConnectionRefusedError())
    assert is_peer_failure(TimeoutError())
    assert not is_peer_failure(TypeError("a bug"))


class SleepLog(ManualClock):
    def __init__(self) -> None:
        super().__init__(T0)
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await super().sleep(seconds)


async def test_a_peer_failure_is_counted_and_retried_with_backoff_until_it_passes() -> None:
    outcomes: list[Exception | None] = [no_such_queue(), no_such_queue(), ConnectionResetError(), None, None]
    stop = asyncio.Event()
    errors: list[str] = []
    clock = SleepLog()

    async def step() -> None:
        outcome = outcomes.pop(0)
        if not outcomes:
            stop.set()
        if outcome is not None:
            raise outcome

    await run_every(
        "scheduler",
        step,
        interval=5.0,
        backoff=Backoff(first=1.0, longest=3.0),
        clock=clock,
        stop=stop,
        on_error=errors.append,
    )
    assert errors == ["scheduler"] * 3
    assert clock.sleeps[:4] == [1.0, 2.0, 3.0, 5.0]  # backoff while failing, the interval once it passed


async def test_a_bug_ends_the_task() -> None:
    async def step() -> None:
        raise TypeError("a bug")

    with pytest.raises(TypeError):
        await run_every(
            "gauges",
            step,
            interval=1.0,
            backoff=Backoff(1.0, 1.0),
            clock=SleepLog(),
            stop=asyncio.Event(),
            on_error=lambda _: None,
        )
