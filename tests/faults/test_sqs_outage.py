"""The SQS endpoint unreachable for a while: the daemon is unready, keeps its PID, and afterwards every
notification is applied once (deletes that failed meanwhile come back as no-op redeliveries)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bounced.ingest.provision import FeedbackWiring
from tests.faults.harness import (
    assert_applied_once,
    assert_no_crash,
    daemon_env,
    decisions_from_metrics,
    expected_decisions,
    mix,
    send,
    settle,
    wait_for_event,
    wait_for_value,
)
from tests.support.feedback import Aws
from tests.support.process import BouncedProcess
from tests.support.tcp_proxy import PausableProxy

pytestmark = pytest.mark.faults


async def test_sqs_unreachable_for_a_while(
    aws: Aws, wiring: FeedbackWiring, migrated: str, moto_proxy: PausableProxy, tmp_path: Path
) -> None:
    items = mix(48, "sqsdown")
    env = daemon_env(migrated, moto_proxy.url, wiring, tmp_path)
    daemon = BouncedProcess(["run"], env, tmp_path / "b.log")
    try:
        daemon.wait_for("/readyz")
        await send(aws, wiring, items[:24])  # the test's own clients talk to moto directly
        await wait_for_value(migrated, "SELECT count(*) FROM events", lambda n: n > 0)
        moto_proxy.pause()
        await send(aws, wiring, items[24:])
        wait_for_event(daemon, "receive_failed")
        daemon.wait_for("/readyz", 503)
        assert daemon.get("/healthz")[0] == 200
        moto_proxy.resume()
        daemon.wait_for("/readyz")
        await settle(migrated, aws, wiring, events=len(items))
        metrics = daemon.get("/metrics")[1].decode()
        alive = daemon.process.poll() is None
    finally:
        code = daemon.stop(timeout=30)
    assert alive
    assert code == 0
    assert moto_proxy.refused > 0
    assert_no_crash(daemon)
    await assert_applied_once(migrated, items)
    assert decisions_from_metrics([metrics]) == expected_decisions(items)
