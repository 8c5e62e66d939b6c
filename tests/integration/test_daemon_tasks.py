"""The daemon owns every task it starts: when a poller dies of a bug, the daemon stops with exit 1
and no task of its own is left running (no flusher, no probe, no batch, no ticker).

In-process on real parts (PostgreSQL, moto), through `bounced run`'s own entry point; the one
part swapped is the message reader, for one that fails the way a bug does."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from bounced.cli import main
from bounced.cli import run as run_command
from bounced.core import samples
from bounced.core.model import Outcome
from bounced.ingest.consumer import Reader
from bounced.ingest.provision import FeedbackWiring
from bounced.ingest.signature import SnsSignatureVerifier
from bounced.ingest.sqs import Message
from bounced.service import gctune, signals
from bounced.service.daemon import Daemon
from tests.faults.harness import daemon_env
from tests.support.feedback import Aws, unique_id

pytestmark = pytest.mark.integration


class BuggyReader:
    async def read(self, queue: str, message: Message) -> Outcome | None:
        raise ZeroDivisionError("a bug in reading")


class BuggyDaemon(Daemon):
    """The daemon with a reader that fails like a bug; records the tasks still alive as run ends."""

    left: set[asyncio.Task[object]] | None = None

    def _reader(self, verifier: SnsSignatureVerifier | None) -> Reader:
        return BuggyReader()

    async def run(self) -> int:
        try:
            return await super().run()
        finally:
            BuggyDaemon.left = asyncio.all_tasks() - {asyncio.current_task()}


@pytest.fixture
def own_signals() -> Iterator[None]:
    """`bounced run` takes the stop signals over; give them back to pytest afterwards."""
    saved = {signum: signal.getsignal(signum) for signum in signals.STOP_SIGNALS}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.fixture
async def one_message(aws: Aws, wiring: FeedbackWiring) -> None:
    doc = samples.bounce(["crash@example.org"], feedback_id=unique_id("fb"))
    await aws.send_body(wiring.queues["bounce"], samples.dumps(doc))


@pytest.mark.usefixtures("own_signals", "one_message")
def test_a_poller_that_dies_of_a_bug_stops_the_daemon_with_exit_1_and_leaves_no_task(
    wiring: FeedbackWiring, migrated: str, aws_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = daemon_env(migrated, aws_env, wiring, tmp_path, BOUNCED_HTTP_ADDR="127.0.0.1:0")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(run_command, "Daemon", BuggyDaemon)
    monkeypatch.setattr(gctune, "settle_after_startup", lambda: None)  # keep pytest's own GC settings
    assert main(["run"]) == 1
    assert BuggyDaemon.left == set()
