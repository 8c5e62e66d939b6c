"""The real `bounced run` with `BOUNCED_SES_SUPPRESSION=push` against the fake SESv2 server: calls
in the outbox survive a restart, wait out an outage, and end at SES in order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from bounced.db.queries import sql
from bounced.ingest.provision import FeedbackWiring
from tests.acceptance.test_run_process import daemon_env, wait_until
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
        dsn,
        endpoint,
        wiring,
        tmp_path,
        BOUNCED_SES_SUPPRESSION="push",
        AWS_ENDPOINT_URL_SESV2=ses.endpoint,
    )


async def queue_calls(dsn: str, *calls: tuple[str, str, str | None]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        columns = [list(c) for c in zip(*calls, strict=True)]
        await conn.execute(sql("insert_ses_calls"), *columns, [None] * len(calls), datetime.now(UTC))
    finally:
        await conn.close()


async def metric_appears(daemon: BouncedProcess, line: str, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if line in daemon.get("/metrics")[1].decode():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{line!r} not in /metrics:\n{daemon.get('/metrics')[1].decode()}")


async def test_queued_calls_survive_a_restart_and_an_outage_and_end_in_order(
    wiring: FeedbackWiring, migrated: str, aws_env: str, tmp_path: Path, fake_ses: FakeSes
) -> None:
    await queue_calls(
        migrated,
        ("gone@example.org", "put", "BOUNCE"),
        ("angry@example.org", "put", "COMPLAINT"),
        ("gone@example.org", "delete", None),
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
        await metric_appears(
            second, 'bounced_ses_suppression_calls_total{operation="delete",result="ok"} 1.0'
        )
        await metric_appears(second, "bounced_ses_suppression_pending 0.0")
    finally:
        assert second.stop(timeout=30) == 0
    assert {a: reason for a, (reason, _) in fake_ses.listed.items()} == {"angry@example.org": "COMPLAINT"}
    made = [(c.operation, c.address) for c in fake_ses.calls if c.status == 200]
    assert made == [
        ("PutSuppressedDestination", "gone@example.org"),
        ("PutSuppressedDestination", "angry@example.org"),
        ("DeleteSuppressedDestination", "gone@example.org"),
    ]
    for daemon in (first, second):
        assert "gone@example.org" not in daemon.log_text()  # ids, never addresses
