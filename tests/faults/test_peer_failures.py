"""Peers fail while the daemon runs: the outbound retry queue is deleted. The daemon keeps consuming,
counts the scheduler's failures, stays alive but unready, and announces the retry once the queue is
back. PostgreSQL goes away: alive (`bounced check` 0) but unready (`bounced check --ready` 1)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bounced.core import samples
from bounced.ingest.provision import FeedbackWiring
from tests.faults.harness import (
    assert_no_crash,
    daemon_env,
    metric_samples,
    mix,
    send,
    settle,
    wait_for_value,
)
from tests.support.feedback import Aws, unique_id
from tests.support.process import BouncedProcess
from tests.support.stoppable_postgres import StoppablePostgres

pytestmark = pytest.mark.faults


def scheduler_errors(daemon: BouncedProcess) -> float:
    samples_ = metric_samples(daemon.get("/metrics")[1].decode(), "bounced_errors_total")
    return samples_.get((("component", "scheduler"),), 0.0)


async def until(check: Callable[[], bool], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{check} never held in {within}s")


async def announced_addresses(aws: Aws, url: str, awaited: str, within: float = 30.0) -> list[str]:
    """The addresses of the announcements on the outbound queue, read until `awaited` is among them."""
    seen: list[str] = []
    deadline = time.monotonic() + within
    while awaited not in seen and time.monotonic() < deadline:
        reply = await aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        seen += [json.loads(m["Body"])["address"] for m in reply.get("Messages", [])]
    return seen


def check(daemon: BouncedProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """`bounced check ARGS` against the daemon, as Docker or a script would run it."""
    return subprocess.run(
        [sys.executable, "-m", "bounced", "check", *args],
        env=daemon.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


async def test_a_deleted_outbound_queue_stops_no_consuming_and_the_announcement_follows_its_return(
    aws: Aws, wiring: FeedbackWiring, migrated: str, aws_env: str, tmp_path: Path
) -> None:
    env = daemon_env(migrated, aws_env, wiring, tmp_path, windows='MailboxFull = ["1s"]')
    daemon = BouncedProcess(["run"], env, tmp_path / "b.log")
    try:
        daemon.wait_for("/readyz")
        await aws.sqs.delete_queue(QueueUrl=wiring.retry_queue)
        full = samples.bounce(
            ["full@example.org"],
            bounce_type="Transient",
            subtype="MailboxFull",
            status="4.2.2",
            diagnostic="smtp; 452 4.2.2 mailbox full",
            feedback_id=unique_id("fb"),
        )
        await aws.publish(wiring.topics["bounce"], full)
        await wait_for_value(
            migrated, "SELECT count(*) FROM retries WHERE state = 'released'", lambda n: n == 1
        )
        await until(lambda: scheduler_errors(daemon) >= 2)
        # Consuming goes on meanwhile, and the daemon is alive but not ready.
        items = mix(16, "outbound-gone")
        await send(aws, wiring, items)
        await settle(migrated, aws, wiring, events=len(items) + 1)
        assert daemon.get("/healthz")[0] == 200
        status, body = daemon.get("/readyz")
        assert status == 503
        assert "queue:retry" in json.loads(body)["reasons"][0]
        await aws.sqs.create_queue(QueueName=wiring.retry_queue.rsplit("/", 1)[1])
        announced = await announced_addresses(aws, wiring.retry_queue, "full@example.org")
        assert "full@example.org" in announced
        await wait_for_value(
            migrated,
            "SELECT count(*) FROM retries WHERE state = 'released' AND announced_at IS NULL",
            lambda n: n == 0,
        )
        daemon.wait_for("/readyz")
        alive = daemon.process.poll() is None
    finally:
        code = daemon.stop(timeout=30)
    assert alive
    assert code == 0
    assert_no_crash(daemon)
    assert "task_round_failed" in daemon.event_names()
    assert "task_recovered" in daemon.event_names()


async def test_during_a_postgres_outage_the_daemon_is_alive_and_unready(
    aws: Aws,
    wiring: FeedbackWiring,
    stoppable_pg: tuple[StoppablePostgres, str],
    aws_env: str,
    tmp_path: Path,
) -> None:
    server, dsn = stoppable_pg
    daemon = BouncedProcess(["run"], daemon_env(dsn, aws_env, wiring, tmp_path), tmp_path / "b.log")
    try:
        daemon.wait_for("/readyz")
        assert check(daemon, "--ready").returncode == 0
        server.stop()
        await send(aws, wiring, mix(8, "pg-away"))
        daemon.wait_for("/readyz", 503)
        alive, ready = check(daemon), check(daemon, "--ready")
        assert alive.returncode == 0, alive.stderr
        assert ready.returncode == 1
        assert ready.stderr.startswith("unready: 503 from ")
        assert ready.stderr.count("\n") == 1
        assert "database:" in ready.stderr
        server.start()
        daemon.wait_for("/readyz", timeout=30)
        assert check(daemon, "--ready").returncode == 0
    finally:
        code = daemon.stop(timeout=30)
    assert code == 0
    assert_no_crash(daemon)


async def test_an_inbound_queue_deleted_while_running_is_waited_out(
    aws: Aws, wiring: FeedbackWiring, migrated: str, aws_env: str, tmp_path: Path
) -> None:
    """The other queues go on, the daemon is alive but unready, and once the queue is back it is read."""
    daemon = BouncedProcess(["run"], daemon_env(migrated, aws_env, wiring, tmp_path), tmp_path / "b.log")
    try:
        daemon.wait_for("/readyz")
        await aws.sqs.delete_queue(QueueUrl=wiring.queues["bounce"])
        await until(lambda: "receive_failed" in daemon.event_names())
        complaints = [item for item in mix(16, "bounce-gone") if item.queue == "complaint"]
        await send(aws, wiring, complaints)
        await wait_for_value(migrated, "SELECT count(*) FROM events", lambda n: n == len(complaints))
        assert daemon.get("/healthz")[0] == 200
        assert daemon.get("/readyz")[0] == 503
        await aws.sqs.create_queue(QueueName=wiring.queues["bounce"].rsplit("/", 1)[1])
        bounces = [item for item in mix(16, "bounce-back") if item.queue == "bounce"]
        for item in bounces:
            await aws.send_body(wiring.queues["bounce"], item.body)
        await wait_for_value(
            migrated, "SELECT count(*) FROM events", lambda n: n == len(complaints) + len(bounces)
        )
        daemon.wait_for("/readyz")
        alive = daemon.process.poll() is None
    finally:
        code = daemon.stop(timeout=30)
    assert alive
    assert code == 0
    assert_no_crash(daemon)
