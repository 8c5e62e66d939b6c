"""Signals while a batch is provably in flight: its commit waits on a lock the test holds on
`recipients` (the statement that writes the batch is running and waits for the row locks it takes
before writing anything).

SIGTERM (and SIGHUP, the same): the daemon stops receiving, gives the batch the shutdown grace, and
exits 0 either having committed it or, past the grace, having rolled it back and released its
messages. SIGKILL: the open transaction dies with the connection; a committed batch whose delete
failed comes back too; a restarted daemon applies everything exactly once."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from bounced.ingest.provision import FeedbackWiring
from bounced.service.daemon import SERVICES_STOP_TIMEOUT
from tests.faults.harness import (
    assert_applied_once,
    assert_no_crash,
    daemon_env,
    fetchval,
    mix,
    queue_depths,
    send,
    settle,
    wait_for_event,
    wait_for_value,
    wait_until,
)
from tests.faults.locks import TableLock, commits_waiting
from tests.support.feedback import Aws
from tests.support.process import BouncedProcess
from tests.support.tcp_proxy import PausableProxy

pytestmark = pytest.mark.faults

GRACE = 4.0


async def _finish(
    aws: Aws, wiring: FeedbackWiring, dsn: str, env: dict[str, str], tmp_path: Path, *, events: int
) -> None:
    """A second daemon takes what is left. (Not `--once`: a receive cancelled at the stop may have
    taken messages SQS now hides until their visibility timeout, and `--once` stops at the first
    empty poll.)"""
    rest = BouncedProcess(["run"], env, tmp_path / "rest.log")
    try:
        rest.wait_for("/readyz")
        await settle(dsn, aws, wiring, events=events, within=30)
    finally:
        assert rest.stop(timeout=30) == 0
    assert_no_crash(rest)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
async def test_a_stop_signal_while_a_commit_waits_finishes_the_batch_within_the_grace(
    aws: Aws, wiring: FeedbackWiring, migrated: str, aws_env: str, tmp_path: Path, *, signum: signal.Signals
) -> None:
    """SIGHUP stops the daemon exactly as SIGTERM does: drain, then exit 0."""
    items = mix(40, "term")
    await send(aws, wiring, items)
    env = daemon_env(migrated, aws_env, wiring, tmp_path, BOUNCED_SHUTDOWN_GRACE=str(GRACE))
    lock = await TableLock.take(migrated)
    daemon = BouncedProcess(["run"], env, tmp_path / "b.log")
    try:
        await wait_until(lambda: commits_waiting(migrated), lambda n: n >= 1)
        started = time.monotonic()
        daemon.signal(signum)
        wait_for_event(daemon, "draining")
        assert daemon.process.poll() is None  # still waiting for its batch
        await lock.release()
        code = daemon.wait(timeout=30)
        elapsed = time.monotonic() - started
    finally:
        await lock.release()
        if daemon.process.poll() is None:
            daemon.kill()
    assert code == 0
    assert elapsed < GRACE
    names = daemon.event_names()
    (stop,) = [e for e in daemon.events() if e.get("event") == "stop_requested"]
    assert stop["signal"] == signum.name
    after_stop = names[names.index("stop_requested") :]
    assert "batch_committed" in after_stop  # the in-flight batch was finished, not dropped
    assert "drain_deadline_passed" not in names
    assert "batch_released" not in names
    assert_no_crash(daemon)
    committed = await fetchval(migrated, "SELECT count(*) FROM events")
    assert committed > 0
    await _finish(aws, wiring, migrated, env, tmp_path, events=len(items))
    await assert_applied_once(migrated, items)


async def test_sigterm_past_the_grace_rolls_back_and_releases_the_batch(
    aws: Aws, wiring: FeedbackWiring, migrated: str, aws_env: str, tmp_path: Path
) -> None:
    items = mix(40, "grace")
    await send(aws, wiring, items)
    grace = 1.0
    env = daemon_env(migrated, aws_env, wiring, tmp_path, BOUNCED_SHUTDOWN_GRACE=str(grace))
    lock = await TableLock.take(migrated)
    daemon = BouncedProcess(["run"], env, tmp_path / "b.log")
    try:
        await wait_until(lambda: commits_waiting(migrated), lambda n: n >= 1)
        started = time.monotonic()
        daemon.signal(signal.SIGTERM)
        code = daemon.wait(timeout=30)
        elapsed = time.monotonic() - started
    finally:
        await lock.release()
        if daemon.process.poll() is None:
            daemon.kill()
    assert code == 0, daemon.log_text()
    assert elapsed < grace + SERVICES_STOP_TIMEOUT + 3  # the grace, the services round, the release
    names = daemon.event_names()
    assert "drain_deadline_passed" in names
    assert "batch_released" in names
    assert "release_failed" not in names
    assert_no_crash(daemon)
    assert await fetchval(migrated, "SELECT count(*) FROM events") == 0  # rolled back, not half-done
    # Released, not left to time out: visible again at once.
    released = sum(int(e["messages"]) for e in daemon.events() if e.get("event") == "batch_released")
    depths = await queue_depths(aws, wiring)
    assert released > 0
    # A message received twice (its visibility ran out on a loaded machine) is released twice: count
    # each message once.
    assert sum(visible for visible, _ in depths.values()) >= min(released, len(items))
    await _finish(aws, wiring, migrated, env, tmp_path, events=len(items))
    await assert_applied_once(migrated, items)


async def test_sigkill_mid_batch_then_restart_changes_nothing_twice(
    aws: Aws, wiring: FeedbackWiring, migrated: str, moto_proxy: PausableProxy, tmp_path: Path
) -> None:
    items = mix(48, "kill")
    first_part, committed_undeleted, in_flight = items[:16], items[16:32], items[32:]
    env = daemon_env(migrated, moto_proxy.url, wiring, tmp_path)
    first = BouncedProcess(["run"], env, tmp_path / "first.log")
    lock: TableLock | None = None
    try:
        first.wait_for("/readyz")
        await send(aws, wiring, first_part)
        await wait_for_value(migrated, "SELECT count(*) FROM events", lambda n: n == len(first_part))
        # A batch commits while SQS is unreachable: its delete fails, its messages will come back.
        lock = await TableLock.take(migrated)
        await send(aws, wiring, committed_undeleted)
        await wait_until(lambda: commits_waiting(migrated), lambda n: n >= 1)
        moto_proxy.pause()
        await lock.release()
        wait_for_event(first, "delete_failed")
        # Then a batch is killed mid-commit.
        lock = await TableLock.take(migrated)
        await send(aws, wiring, in_flight)
        moto_proxy.resume()
        await wait_until(lambda: commits_waiting(migrated), lambda n: n >= 1)
        first.signal(signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL
    finally:
        if lock is not None:
            await lock.release()
        if first.process.poll() is None:
            first.kill()
    before_restart = await fetchval(migrated, "SELECT count(*) FROM events")
    assert len(first_part) <= before_restart < len(items)
    second = BouncedProcess(["run"], env, tmp_path / "second.log")
    try:
        await settle(migrated, aws, wiring, events=len(items), within=45)
    finally:
        assert second.stop(timeout=30) == 0
    assert_no_crash(second)
    # Redeliveries came back (received more than once) and changed nothing twice.
    assert any(e.get("event") == "batch_committed" for e in second.events())
    await assert_applied_once(migrated, items)


async def test_messages_a_long_poll_brings_after_sigterm_are_released_not_left_invisible(
    aws: Aws, wiring: FeedbackWiring, migrated: str, aws_env: str, tmp_path: Path
) -> None:
    """SIGTERM while every poller is in a long poll, then messages arrive: SQS hands them to those
    polls. The daemon lets the polls finish, releases what they bring unprocessed, and exits 0; a
    new daemon (visibility timeout 120 s) takes them within seconds: none waited out a timeout."""
    items = mix(8, "late")
    env = daemon_env(
        migrated,
        aws_env,
        wiring,
        tmp_path,
        BOUNCED_WAIT_TIME_SECONDS="8",
        BOUNCED_VISIBILITY_TIMEOUT="120",
        BOUNCED_SHUTDOWN_GRACE="20",
    )
    first = BouncedProcess(["run"], env, tmp_path / "first.log")
    try:
        wait_for_event(first, "daemon_ready")
        await asyncio.sleep(1.0)  # every poller is into its long poll on an empty queue
        first.signal(signal.SIGTERM)
        wait_for_event(first, "stop_requested")
        await send(aws, wiring, items)
        assert first.wait(timeout=30) == 0, first.log_text()
    finally:
        if first.process.poll() is None:
            first.kill()
    assert await fetchval(migrated, "SELECT count(*) FROM events") == 0  # nothing processed after the stop
    second = BouncedProcess(["run"], env, tmp_path / "second.log")
    try:
        await settle(migrated, aws, wiring, events=len(items), within=20)
    finally:
        assert second.stop(timeout=30) == 0
    await assert_applied_once(migrated, items)
    released = [e for e in first.events() if e.get("event") == "released_at_stop"]
    assert sum(int(e["messages"]) for e in released) > 0
    assert_no_crash(first)
    assert_no_crash(second)
