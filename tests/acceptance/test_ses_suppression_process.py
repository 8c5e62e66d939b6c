"""The real `bounced run` with `BOUNCED_SES_SUPPRESSION=push` against the fake SESv2 server: a hard
bounce ends listed at SES, suppress then unsuppress ends unlisted, and queued calls survive a
restart and wait out an outage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from bounced.core import manual, samples
from bounced.core.model import Action
from bounced.core.policy import DEFAULT_POLICY
from bounced.ingest.provision import FeedbackWiring
from tests.acceptance.test_run_process import daemon_env, wait_until
from tests.support.feedback import Aws, unique_id
from tests.support.outcomes import hard_bounce, migrated_store
from tests.support.process import BouncedProcess
from tests.support.sesv2_server import FakeSes, running_fake_ses

pytestmark = pytest.mark.acceptance


@pytest.fixture
def fake_ses() -> Iterator[FakeSes]:
    with running_fake_ses() as ses:
        yield ses


def pushing_env(
    dsn: str, endpoint: str, wiring: FeedbackWiring, tmp_path: Path, ses: FakeSes
) -> dict[str, str]:
    return daemon_env(
        dsn, endpoint, wiring, tmp_path, BOUNCED_SES_SUPPRESSION="push", AWS_ENDPOINT_URL_SESV2=ses.endpoint
    )


@pytest.fixture
def env(
    wiring: FeedbackWiring, migrated: str, aws_env: str, tmp_path: Path, fake_ses: FakeSes
) -> dict[str, str]:
    """The daemon's environment: moto's queues, the test database, SES's list pushed to the fake."""
    return pushing_env(migrated, aws_env, wiring, tmp_path, fake_ses)


async def metric_appears(daemon: BouncedProcess, line: str, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if line in daemon.get("/metrics")[1].decode():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{line!r} not in /metrics:\n{daemon.get('/metrics')[1].decode()}")


async def until_listed(ses: FakeSes, listed: set[str], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if set(ses.listed) == listed:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"SES lists {sorted(ses.listed)}, expected {sorted(listed)}")


def cli(env: dict[str, str], tmp_path: Path, *args: str) -> int:
    return BouncedProcess(list(args), env, tmp_path / f"{args[0]}.log").wait(timeout=60)


async def test_a_hard_bounce_ends_listed_and_an_unsuppress_takes_it_off(
    aws: Aws, wiring: FeedbackWiring, env: dict[str, str], tmp_path: Path, fake_ses: FakeSes
) -> None:
    daemon = BouncedProcess(["run"], env, tmp_path / "bounced.log")
    try:
        daemon.wait_for("/readyz")
        await aws.publish(
            wiring.topics["bounce"], samples.bounce(["gone@example.org"], feedback_id=unique_id("fb"))
        )
        await until_listed(fake_ses, {"gone@example.org"})
        assert fake_ses.listed["gone@example.org"][0] == "BOUNCE"
        # A person suppresses another address and lifts the first (the commands, as operators run them).
        assert cli(env, tmp_path, "suppress", "asked@example.org", "--reason", "asked by phone") == 0
        assert cli(env, tmp_path, "unsuppress", "gone@example.org", "--reason", "mailbox back", "--yes") == 0
        await until_listed(fake_ses, {"asked@example.org"})
        await metric_appears(
            daemon, 'bounced_ses_suppression_calls_total{operation="delete",result="ok"} 1.0'
        )
        await wait_until("SELECT count(*) FROM ses_suppression_outbox", 0, env["BOUNCED_DATABASE_URL"])
    finally:
        assert daemon.stop(timeout=30) == 0
    assert "gone@example.org" not in daemon.log_text()  # ids, never addresses


async def test_queued_calls_survive_a_restart_and_an_outage_and_end_in_order(
    wiring: FeedbackWiring, migrated: str, aws_env: str, tmp_path: Path, fake_ses: FakeSes
) -> None:
    at = datetime.now(UTC) - timedelta(minutes=5)
    async with migrated_store(migrated, DEFAULT_POLICY, ses_push=True) as store:
        await store.commit([hard_bounce(["gone@example.org", "angry@example.org"], at)], at)
        lifted = partial(manual.activated, now=at + timedelta(minutes=1))
        await store.override(
            "gone@example.org",
            lifted,
            action=Action.CLEAR,
            actor="ops",
            note="test",
            now=at + timedelta(minutes=1),
        )
    fake_ses.down()
    env = pushing_env(migrated, aws_env, wiring, tmp_path, fake_ses)
    first = BouncedProcess(["run"], env, tmp_path / "first.log")
    try:
        first.wait_for("/readyz")
        await metric_appears(first, 'bounced_errors_total{component="ses_suppression"} 1.0')
        await metric_appears(first, "bounced_ses_suppression_pending 3.0")
    finally:
        assert first.stop(timeout=30) == 0
    await wait_until("SELECT count(*) FROM ses_suppression_outbox", 3, migrated)

    fake_ses.up()
    fake_ses.throttle(2)
    second = BouncedProcess(["run"], env, tmp_path / "second.log")
    try:
        second.wait_for("/readyz")
        await wait_until("SELECT count(*) FROM ses_suppression_outbox", 0, migrated)
        await metric_appears(
            second, 'bounced_ses_suppression_calls_total{operation="put",result="throttled"} 2.0'
        )
        await metric_appears(second, "bounced_ses_suppression_pending 0.0")
    finally:
        assert second.stop(timeout=30) == 0
    assert set(fake_ses.listed) == {"angry@example.org"}
    made = [(c.operation, c.address) for c in fake_ses.calls if c.status == 200]
    assert made == [
        ("PutSuppressedDestination", "angry@example.org"),
        ("PutSuppressedDestination", "gone@example.org"),
        ("DeleteSuppressedDestination", "gone@example.org"),
    ]
    for daemon in (first, second):
        assert "gone@example.org" not in daemon.log_text()  # ids, never addresses
