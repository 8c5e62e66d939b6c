"""A message that trips a bug in bounced's reader, in one batch with good ones, against the real
`bounced run`: the daemon stays up, the good messages are applied, and nothing is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from bounced.core import samples
from bounced.ingest.provision import FeedbackWiring
from tests.faults.harness import daemon_env, fetchval, queue_depths, wait_until
from tests.support.feedback import Aws, unique_id
from tests.support.process import BouncedProcess

pytestmark = pytest.mark.faults

# Valid ISO 8601 whose conversion to UTC lands past year 9999: `datetime.astimezone` raises
# OverflowError, which no parser error code foresaw (bounced may come to read it: either way the
# message must be applied or quarantined, and never take the daemon down).
POISON_TIMESTAMP = "9999-12-31T23:59:59-01:00"


def _bounce(address: str, timestamp: str | None = None) -> str:
    document = samples.bounce([address], feedback_id=unique_id("fb"), message_id=unique_id("m"))
    if timestamp is not None:
        document["bounce"]["timestamp"] = timestamp
    return samples.dumps(document)


async def test_a_poison_message_neither_stops_the_daemon_nor_its_batch(
    aws: Aws, wiring: FeedbackWiring, migrated: str, aws_env: str, tmp_path: Path
) -> None:
    good = [f"good-{index}@example.org" for index in range(5)]
    url = wiring.queues["bounce"]
    # On the queue before the daemon starts, so its one poller takes them in one batch.
    await aws.send_body(url, _bounce(good[0]))
    await aws.send_body(url, _bounce(good[1]))
    await aws.send_body(url, _bounce("poison@example.org", POISON_TIMESTAMP))
    for address in good[2:]:
        await aws.send_body(url, _bounce(address))
    env = daemon_env(migrated, aws_env, wiring, tmp_path, BOUNCED_POLLERS_PER_QUEUE="1")
    daemon = BouncedProcess(["run"], env, tmp_path / "b.log")
    try:
        daemon.wait_for("/readyz")
        pid = daemon.process.pid

        async def settled() -> tuple[int, int, dict[str, tuple[int, int]]]:
            applied = await fetchval(
                migrated, "SELECT count(DISTINCT address) FROM events WHERE address LIKE 'good-%'"
            )
            quarantined = await fetchval(migrated, "SELECT count(*) FROM quarantine")
            return applied, quarantined, await queue_depths(aws, wiring)

        await wait_until(
            settled, lambda v: v[0] == len(good) and all(d == (0, 0) for d in v[2].values()), within=60
        )
        assert daemon.process.poll() is None
        assert daemon.process.pid == pid
        assert daemon.get("/healthz")[0] == 200
        # The poison one is applied (once bounced reads such timestamps) or quarantined, never lost.
        poison_events = await fetchval(
            migrated, "SELECT count(*) FROM events WHERE address = 'poison@example.org'"
        )
        codes = await fetchval(migrated, "SELECT array_agg(code) FROM quarantine") or []
        assert (poison_events, codes) in ((1, []), (0, ["internal_error"]), (0, ["bad_timestamp"]))
    finally:
        code = daemon.stop(timeout=30)
    assert code == 0
    for address in good:
        status = await fetchval(migrated, "SELECT status FROM recipients WHERE address = $1", address)
        assert status == "suppressed"
    assert "poison@example.org" not in daemon.log_text()
