"""The real `bounced run` process, driven from outside: moto over HTTP, a real PostgreSQL, signals."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import asyncpg
import pytest

from bounced.core import samples
from bounced.ingest.provision import FeedbackWiring
from tests.support.aws import FAKE_CREDENTIALS
from tests.support.feedback import Aws, unique_id
from tests.support.process import BouncedProcess
from tests.support.sdnotify import notify_listener

pytestmark = pytest.mark.acceptance


def daemon_env(
    dsn: str, endpoint: str, wiring: FeedbackWiring, tmp_path: Path, **extra: str
) -> dict[str, str]:
    config = tmp_path / "bounced.toml"
    config.write_text('[retry.windows]\nMailboxFull = ["1s", "1s", "1s"]\n', encoding="utf-8")
    return {
        **FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "BOUNCED_DATABASE_URL": dsn,
        "BOUNCED_VERIFY_SIGNATURES": "false",
        "BOUNCED_WAIT_TIME_SECONDS": "1",
        "BOUNCED_SCHEDULER_INTERVAL": "0.2",
        "BOUNCED_QUEUE_METRICS_INTERVAL": "1",
        "BOUNCED_SHUTDOWN_GRACE": "10",
        "BOUNCED_CONFIG": str(config),
        **wiring.environment(),
        **extra,
    }


async def wait_until(query: str, expected: object, dsn: str, *args: object, within: float = 30.0) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + within
        value: object = None
        while time.monotonic() < deadline:
            value = await conn.fetchval(query, *args)
            if value == expected:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{query} gave {value!r}, expected {expected!r}")
    finally:
        await conn.close()


async def test_run_applies_feedback_serves_health_and_stops_cleanly(
    aws: Aws, wiring: FeedbackWiring, migrated: str, aws_env: str, tmp_path: Path
) -> None:
    with notify_listener(tmp_path) as listener:
        env = daemon_env(migrated, aws_env, wiring, tmp_path, **listener.environ(watchdog_usec=400_000))
        daemon = BouncedProcess(["run"], env, tmp_path / "bounced.log")
        try:
            daemon.wait_for("/readyz")
            listener.wait_for("READY=1", timeout=10)
            await aws.publish(
                wiring.topics["bounce"], samples.bounce(["hard@example.org"], feedback_id=unique_id("fb"))
            )
            await aws.publish(
                wiring.topics["complaint"],
                samples.complaint(["spam@example.org"], feedback_id=unique_id("fb")),
            )
            await wait_until("SELECT count(*) FROM recipients WHERE status = 'suppressed'", 2, migrated)
            assert daemon.get("/healthz")[0] == 200
            # The rows are visible a moment before the poller counts the commit and deletes the
            # messages: wait for the counters rather than read them once.
            await _metric_appears(daemon, 'bounced_decisions_total{action="suppress",kind="bounce"} 1.0')
            await _metric_appears(daemon, 'bounced_messages_deleted_total{queue="complaint"} 1.0')
            assert 'bounced_build_info{version="' in daemon.get("/metrics")[1].decode()
            await _metric_appears(daemon, 'bounced_recipients{status="suppressed"} 2.0')
            await _metric_appears(daemon, 'bounced_queue_messages{queue="bounce-dlq",state="visible"} 0.0')
            await _metric_appears(daemon, 'bounced_queue_messages{queue="complaint",state="in_flight"} 0.0')
            listener.wait_for("WATCHDOG=1", timeout=5)
        finally:
            code = daemon.stop(timeout=30)
        assert code == 0
        listener.wait_for("STOPPING=1", timeout=5)
    names = daemon.event_names()
    assert "daemon_ready" in names
    assert "daemon_stopped" in names
    assert "hard@example.org" not in daemon.log_text()  # logs carry ids, never addresses


async def test_transient_bounce_ends_in_a_released_retry_on_the_outbound_queue(
    aws: Aws, wiring: FeedbackWiring, migrated: str, aws_env: str, tmp_path: Path
) -> None:
    env = daemon_env(migrated, aws_env, wiring, tmp_path)
    daemon = BouncedProcess(["run"], env, tmp_path / "bounced.log")
    try:
        daemon.wait_for("/readyz")
        document = samples.bounce(
            ["full@example.org"],
            bounce_type="Transient",
            subtype="MailboxFull",
            status="4.2.2",
            diagnostic="smtp; 452 4.2.2 mailbox full",
            feedback_id=unique_id("fb"),
            message_id="ses-full-1",
        )
        await aws.publish(wiring.topics["bounce"], document)
        await wait_until("SELECT count(*) FROM retries WHERE state = 'released'", 1, migrated)
        await wait_until(
            "SELECT status FROM recipients WHERE address = $1", "active", migrated, "full@example.org"
        )
        reply = await aws.sqs.receive_message(QueueUrl=wiring.retry_queue, WaitTimeSeconds=5)
        (message,) = reply["Messages"]
        body = json.loads(message["Body"])
        assert body["address"] == "full@example.org"
        assert body["ses_message_id"] == "ses-full-1"
        assert body["cause"] == "MailboxFull"
        assert body["attempt"] == 1
    finally:
        assert daemon.stop(timeout=30) == 0


async def test_once_drains_and_exits_zero(
    aws: Aws, wiring: FeedbackWiring, migrated: str, aws_env: str, tmp_path: Path
) -> None:
    for n in range(5):
        await aws.publish(
            wiring.topics["delivery"], samples.delivery([f"d{n}@example.org"], message_id=unique_id("m"))
        )
    daemon = BouncedProcess(
        ["run", "--once"], daemon_env(migrated, aws_env, wiring, tmp_path), tmp_path / "once.log"
    )
    assert daemon.wait(timeout=60) == 0, daemon.log_text()
    await wait_until("SELECT count(*) FROM recipients WHERE status = 'active'", 5, migrated, within=1)
    assert await aws.depth(wiring.queues["delivery"]) == (0, 0)


async def test_sigterm_mid_batch_finishes_it_and_loses_nothing(
    aws: Aws, wiring: FeedbackWiring, migrated: str, aws_env: str, tmp_path: Path
) -> None:
    for n in range(40):
        await aws.publish(
            wiring.topics["bounce"], samples.bounce([f"p{n}@example.org"], feedback_id=unique_id("fb"))
        )
    # A short visibility timeout: a long poll cut off by the stop may have taken messages SQS then
    # keeps hidden until it runs out (nothing lost, only delayed).
    env = daemon_env(
        migrated, aws_env, wiring, tmp_path, BOUNCED_POLLERS_PER_QUEUE="4", BOUNCED_VISIBILITY_TIMEOUT="5"
    )
    daemon = BouncedProcess(["run"], env, tmp_path / "bounced.log")
    daemon.wait_for("/readyz")
    await wait_until("SELECT count(*) > 0 FROM events", expected=True, dsn=migrated)
    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=30) == 0
    assert time.monotonic() - started < 10 + 5  # within the grace period
    # What was not applied before the stop is still on the queue: a second daemon applies it, once.
    rest = BouncedProcess(["run"], env, tmp_path / "rest.log")
    try:
        rest.wait_for("/readyz")
        await wait_until("SELECT count(*) FROM recipients WHERE status = 'suppressed'", 40, migrated)
    finally:
        assert rest.stop(timeout=30) == 0
    await wait_until("SELECT count(*) FROM events", 40, migrated, within=1)


async def test_run_refuses_a_schema_that_is_behind(
    aws: Aws, wiring: FeedbackWiring, empty_database: str, aws_env: str, tmp_path: Path
) -> None:
    daemon = BouncedProcess(
        ["run"], daemon_env(empty_database, aws_env, wiring, tmp_path), tmp_path / "b.log"
    )
    assert daemon.wait(timeout=30) == 2
    assert "bounced migrate" in daemon.log_text()


def test_a_bad_setting_stops_start_with_one_line(tmp_path: Path) -> None:
    daemon = BouncedProcess(["run"], {"BOUNCED_BATCH_SIZE": "50"}, tmp_path / "bad.log")
    assert daemon.wait(timeout=30) == 2
    assert daemon.log_text().strip() == "bounced: BOUNCED_BATCH_SIZE: must be from 1 to 10, not 50"


def test_an_unknown_unsigned_queue_stops_start_with_one_line(tmp_path: Path) -> None:
    daemon = BouncedProcess(["run"], {"BOUNCED_UNSIGNED_QUEUES": "bounces"}, tmp_path / "bad.log")
    assert daemon.wait(timeout=30) == 2
    assert daemon.log_text().strip() == (
        "bounced: BOUNCED_UNSIGNED_QUEUES: unknown queue 'bounces': list some of bounce, complaint, delivery"
    )


async def _metric_appears(daemon: BouncedProcess, line: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if line in daemon.get("/metrics")[1].decode():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"/metrics never showed {line!r}")


async def _received(daemon: BouncedProcess, queue: str, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    needle = f'bounced_messages_received_total{{queue="{queue}"}}'
    while time.monotonic() < deadline:
        if needle in daemon.get("/metrics")[1].decode():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"nothing received on {queue}:\n{daemon.log_text()}")


async def test_past_the_grace_period_an_unfinished_batch_is_released_at_once(
    aws: Aws, wiring: FeedbackWiring, migrated: str, aws_env: str, tmp_path: Path
) -> None:
    """The batch cannot commit (the test holds a lock on recipients); SIGTERM gives it the grace, then
    cancels it, which makes its message visible again at once rather than after the visibility timeout."""
    env = daemon_env(
        migrated, aws_env, wiring, tmp_path, BOUNCED_SHUTDOWN_GRACE="1", BOUNCED_VISIBILITY_TIMEOUT="300"
    )
    blocker = await asyncpg.connect(migrated)
    try:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE recipients IN ACCESS EXCLUSIVE MODE")
        daemon = BouncedProcess(["run"], env, tmp_path / "grace.log")
        daemon.wait_for("/healthz")
        await aws.publish(
            wiring.topics["bounce"], samples.bounce(["stuck@example.org"], feedback_id=unique_id("fb"))
        )
        await _received(daemon, "bounce")
        started = time.monotonic()
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
        assert time.monotonic() - started < 8
        assert "drain_deadline_passed" in daemon.event_names()
        assert "batch_released" in daemon.event_names()
        assert await aws.depth(wiring.queues["bounce"]) == (1, 0)  # visible now, not in 300 s
        await transaction.rollback()
    finally:
        await blocker.close()
    rest = BouncedProcess(["run", "--once"], env, tmp_path / "rest.log")
    assert rest.wait(timeout=60) == 0
    await wait_until(
        "SELECT status FROM recipients WHERE address = $1", "suppressed", migrated, "stuck@example.org"
    )


async def test_a_second_signal_exits_at_once(
    aws: Aws, wiring: FeedbackWiring, migrated: str, aws_env: str, tmp_path: Path
) -> None:
    env = daemon_env(migrated, aws_env, wiring, tmp_path, BOUNCED_SHUTDOWN_GRACE="120")
    blocker = await asyncpg.connect(migrated)
    try:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE recipients IN ACCESS EXCLUSIVE MODE")
        daemon = BouncedProcess(["run"], env, tmp_path / "twice.log")
        daemon.wait_for("/healthz")
        await aws.publish(
            wiring.topics["bounce"], samples.bounce(["twice@example.org"], feedback_id=unique_id("fb"))
        )
        await _received(daemon, "bounce")
        daemon.signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        started = time.monotonic()
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=10) == 128 + signal.SIGTERM
        assert time.monotonic() - started < 3
        assert "second_signal_exit" in daemon.event_names()
        await transaction.rollback()
    finally:
        await blocker.close()


def test_a_stop_during_start_up_is_a_clean_stop(tmp_path: Path) -> None:
    """SIGTERM while the process is still importing and reading its settings: exit 0, not killed."""
    env = {"BOUNCED_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none", "AWS_REGION": "us-east-1"}
    env["BOUNCED_BOUNCE_QUEUE_URL"] = "http://127.0.0.1:1/123456789012/q"
    daemon = BouncedProcess(["run"], env, tmp_path / "early.log")
    time.sleep(0.15)  # inside start-up: the imports alone take longer
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=30) == 0, daemon.log_text()
    assert "stop_requested" in daemon.event_names()
