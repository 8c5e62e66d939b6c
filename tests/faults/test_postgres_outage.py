"""PostgreSQL goes away: while messages flow, and before the daemon even starts. Nothing is lost,
nothing is applied twice, and the daemon rides it out without restarting."""

from __future__ import annotations

from pathlib import Path

import pytest

from bounced.ingest.provision import FeedbackWiring
from tests.faults.harness import (
    assert_applied_once,
    assert_never_overcounted,
    assert_no_crash,
    daemon_env,
    decisions_from_metrics,
    expected_decisions,
    mix,
    queue_depths,
    send,
    settle,
    wait_for_event,
    wait_for_value,
)
from tests.support.feedback import Aws
from tests.support.process import BouncedProcess
from tests.support.stoppable_postgres import StoppablePostgres

pytestmark = pytest.mark.faults


async def test_postgres_stopped_while_messages_flow_then_started_again(
    aws: Aws,
    wiring: FeedbackWiring,
    stoppable_pg: tuple[StoppablePostgres, str],
    aws_env: str,
    tmp_path: Path,
) -> None:
    server, dsn = stoppable_pg
    items = mix(48, "pgstop")
    daemon = BouncedProcess(["run"], daemon_env(dsn, aws_env, wiring, tmp_path), tmp_path / "b.log")
    try:
        daemon.wait_for("/readyz")
        await send(aws, wiring, items[:24])
        await wait_for_value(dsn, "SELECT count(*) FROM events", lambda n: n > 0)
        server.stop()
        await send(aws, wiring, items[24:])
        wait_for_event(daemon, "database_unavailable")  # a commit failed and the pollers stopped
        assert daemon.get("/readyz")[0] == 503
        assert daemon.get("/healthz")[0] == 200
        server.start()
        await settle(dsn, aws, wiring, events=len(items))
        daemon.wait_for("/readyz")
        wait_for_event(daemon, "database_available")
        metrics = daemon.get("/metrics")[1].decode()
        pid_alive = daemon.process.poll() is None
    finally:
        code = daemon.stop(timeout=30)
    assert pid_alive
    assert code == 0
    assert_no_crash(daemon)
    await assert_applied_once(dsn, items)
    assert_never_overcounted(decisions_from_metrics([metrics]), items)


async def test_postgres_unreachable_at_start_waits_unready_then_catches_up(
    aws: Aws,
    wiring: FeedbackWiring,
    stoppable_pg: tuple[StoppablePostgres, str],
    aws_env: str,
    tmp_path: Path,
) -> None:
    server, dsn = stoppable_pg
    items = mix(24, "pglate")
    server.stop()
    await send(aws, wiring, items)
    daemon = BouncedProcess(["run"], daemon_env(dsn, aws_env, wiring, tmp_path), tmp_path / "b.log")
    try:
        daemon.wait_for("/healthz")
        wait_for_event(daemon, "database_unreachable", count=2)  # tried, and tried again
        assert daemon.get("/readyz")[0] == 503
        # Nothing was taken off the queues while PostgreSQL was away.
        depths = await queue_depths(aws, wiring)
        assert sum(visible for visible, _ in depths.values()) == len(items)
        server.start()
        daemon.wait_for("/readyz", timeout=30)
        await settle(dsn, aws, wiring, events=len(items))
        metrics = daemon.get("/metrics")[1].decode()
    finally:
        code = daemon.stop(timeout=30)
    assert code == 0
    assert_no_crash(daemon)
    await assert_applied_once(dsn, items)
    assert decisions_from_metrics([metrics]) == expected_decisions(items)
