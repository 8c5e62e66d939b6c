"""Memory under wide notifications: the real `bounced run` process on SNS-wrapped bounces of a thousand
recipients each. The raw payload is kept once per notification, never once per recipient, so peak
memory does not grow as recipients x body size."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bounced.core import samples
from bounced.ingest.provision import FeedbackWiring
from tests.faults.harness import assert_no_crash, daemon_env, fetchval, settle
from tests.support.feedback import Aws, unique_id
from tests.support.process import BouncedProcess

pytestmark = pytest.mark.faults

NOTIFICATIONS = 5
RECIPIENTS = 1000
PEAK_RSS_LIMIT_KB = 150 * 1024
DIAGNOSTIC = "smtp; 550 5.1.1 Recipient address rejected: user unknown"


def _wide_bounce(tag: str) -> str:
    """About 235 KB of SES JSON: a Permanent bounce of RECIPIENTS addresses, each with its DSN."""
    addresses = [f"{tag}-{i:04d}@example.org" for i in range(RECIPIENTS)]
    document = samples.bounce(
        addresses, diagnostic=DIAGNOSTIC, feedback_id=unique_id("fb"), message_id=unique_id("m")
    )
    return samples.dumps(document)


def _peak_rss_kb(pid: int) -> int:
    """The process's peak resident set (VmHWM) in kB, from the kernel's own count."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    match = re.search(r"^VmHWM:\s+(\d+) kB$", status, re.MULTILINE)
    assert match, status
    return int(match.group(1))


async def test_wide_bounces_keep_peak_rss_bounded(
    aws: Aws, wiring: FeedbackWiring, migrated: str, aws_env: str, tmp_path: Path
) -> None:
    bodies = [_wide_bounce(f"w{n}") for n in range(NOTIFICATIONS)]
    assert all(200_000 < len(body) < 256 * 1024 for body in bodies)  # SNS's limit
    for body in bodies:
        await aws.sns.publish(TopicArn=wiring.topics["bounce"], Message=body)
    env = daemon_env(migrated, aws_env, wiring, tmp_path, BOUNCED_POLLERS_PER_QUEUE="1")
    daemon = BouncedProcess(["run"], env, tmp_path / "b.log")
    try:
        daemon.wait_for("/readyz")
        await settle(migrated, aws, wiring, events=NOTIFICATIONS * RECIPIENTS, within=120)
        peak = _peak_rss_kb(daemon.process.pid)
    finally:
        code = daemon.stop(timeout=30)
    assert code == 0
    assert_no_crash(daemon)
    suppressed = "SELECT count(*) FROM recipients WHERE status = 'suppressed'"
    assert await fetchval(migrated, suppressed) == NOTIFICATIONS * RECIPIENTS
    assert await fetchval(migrated, "SELECT count(*) FROM notifications") == NOTIFICATIONS
    stored = "SELECT sum(octet_length(payload)) FROM notifications"
    assert await fetchval(migrated, stored) == sum(len(body.encode()) for body in bodies)
    assert peak < PEAK_RSS_LIMIT_KB, f"peak RSS {peak} kB"
