"""Bodies without an SNS envelope (no signature) against the real `bounced run` with signature checks
on: applied only on the queues declared in BOUNCED_UNSIGNED_QUEUES, quarantined anywhere else."""

from __future__ import annotations

from pathlib import Path

import pytest

from bounced.core import samples
from bounced.ingest.provision import FeedbackWiring
from tests.faults.harness import daemon_env, fetchval, queue_depths, wait_until
from tests.support.feedback import Aws, unique_id
from tests.support.process import BouncedProcess

pytestmark = pytest.mark.faults


def _raw_bounce(address: str) -> str:
    return samples.dumps(samples.bounce([address], feedback_id=unique_id("fb"), message_id=unique_id("m")))


async def test_a_raw_body_is_applied_only_on_a_queue_declared_unsigned(
    aws: Aws, wiring: FeedbackWiring, migrated: str, aws_env: str, tmp_path: Path
) -> None:
    forged = _raw_bounce("forged@example.org")
    await aws.send_body(wiring.queues["bounce"], forged)  # a signed queue: anyone could have sent it
    await aws.send_body(wiring.queues["complaint"], _raw_bounce("raw@example.org"))  # declared raw
    env = daemon_env(
        migrated,
        aws_env,
        wiring,
        tmp_path,
        BOUNCED_VERIFY_SIGNATURES="true",
        BOUNCED_UNSIGNED_QUEUES="complaint",
    )
    daemon = BouncedProcess(["run"], env, tmp_path / "b.log")
    try:
        daemon.wait_for("/readyz")

        async def settled() -> tuple[int, int, dict[str, tuple[int, int]]]:
            events = await fetchval(migrated, "SELECT count(*) FROM events")
            quarantined = await fetchval(migrated, "SELECT count(*) FROM quarantine")
            return events, quarantined, await queue_depths(aws, wiring)

        await wait_until(settled, lambda v: v[:2] == (1, 1) and all(d == (0, 0) for d in v[2].values()))
        assert daemon.process.poll() is None
    finally:
        assert daemon.stop(timeout=30) == 0
    status = "SELECT status FROM recipients WHERE address = $1"
    assert await fetchval(migrated, status, "raw@example.org") == "suppressed"
    assert await fetchval(migrated, status, "forged@example.org") is None
    assert await fetchval(migrated, "SELECT count(*) FROM events WHERE address = 'forged@example.org'") == 0
    row = "SELECT {} FROM quarantine WHERE queue = 'bounce'"
    assert await fetchval(migrated, row.format("code")) == "unsigned_body"
    assert bytes(await fetchval(migrated, row.format("body"))) == forged.encode()
    assert "forged@example.org" not in daemon.log_text()
    (started,) = [e for e in daemon.events() if e.get("event") == "unsigned_bodies_accepted"]
    assert started["queues"] == ["complaint"]
