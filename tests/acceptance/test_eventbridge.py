"""SES events through EventBridge into the real `bounced run`: moto's EventBridge delivers what a rule
matches to its queue, the daemon reads the events with signature checks on (the queue declared
unsigned, as `bounced provision --via eventbridge` says), and its trust checks quarantine the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bounced.core import samples
from bounced.ingest.provision import EventBridgeWiring, provision_eventbridge
from tests.support.aws import FAKE_CREDENTIALS
from tests.support.eventbridge import events_client, put_ses_event
from tests.support.feedback import Aws, unique_id
from tests.support.process import BouncedProcess

pytestmark = pytest.mark.acceptance

ACCOUNT = samples.ACCOUNT


@pytest.fixture
async def routed(aws: Aws, aws_env: str) -> EventBridgeWiring:
    """A rule on moto's default bus delivering SES's email events to a queue, as provisioned."""
    async with events_client(aws_env) as events:
        return await provision_eventbridge(events, aws.sqs)


def drain_once(dsn: str, endpoint: str, tmp_path: Path, settings: dict[str, str]) -> BouncedProcess:
    """`bounced run --once` with signature checks on; fails with its log unless it exits 0."""
    env = {
        **FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "BOUNCED_DATABASE_URL": dsn,
        "BOUNCED_VERIFY_SIGNATURES": "true",
        "BOUNCED_WAIT_TIME_SECONDS": "1",
        **settings,
    }
    daemon = BouncedProcess(["run", "--once"], env, tmp_path / "once.log")
    assert daemon.wait(timeout=60) == 0, daemon.log_text()
    return daemon


async def fetch(dsn: str, query: str, *args: object) -> list[Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return [tuple(row) for row in await conn.fetch(query, *args)]
    finally:
        await conn.close()


STATUS = "SELECT address, status, reason FROM recipients ORDER BY address"


async def test_a_bounce_and_a_complaint_through_eventbridge_suppress_and_a_second_put_is_a_no_op(
    aws: Aws, routed: EventBridgeWiring, migrated: str, aws_env: str, tmp_path: Path
) -> None:
    bounce = samples.bounce(
        ["jane@example.org"], event=True, feedback_id=unique_id("fb"), message_id=unique_id("m")
    )
    complaint = samples.complaint(
        ["joe@example.org"], event=True, feedback_id=unique_id("fb"), message_id=unique_id("m")
    )
    async with events_client(aws_env) as events:
        for detail in (bounce, complaint, bounce):  # SES may publish an event twice
            await put_ses_event(events, detail)
    assert (await aws.depth(routed.queue))[0] == 3
    drain_once(migrated, aws_env, tmp_path, routed.environment())

    assert await fetch(migrated, STATUS) == [
        ("jane@example.org", "suppressed", "user-unknown"),
        ("joe@example.org", "suppressed", "complaint"),
    ]
    audit = "SELECT kind, action, address, queue FROM events ORDER BY kind"
    assert await fetch(migrated, audit) == [
        ("bounce", "suppress", "jane@example.org", "bounce"),
        ("complaint", "suppress", "joe@example.org", "bounce"),
    ]
    assert await fetch(migrated, "SELECT source, kind FROM notifications ORDER BY kind") == [
        ("eventbridge", "bounce"),
        ("eventbridge", "complaint"),
    ]
    assert await fetch(migrated, "SELECT code FROM quarantine") == []
    assert await aws.depth(routed.queue) == (0, 0)


async def test_trust_checks_quarantine_foreign_events_and_events_on_signed_queues(
    aws: Aws, routed: EventBridgeWiring, migrated: str, aws_env: str, tmp_path: Path
) -> None:
    signed = (await aws.sqs.create_queue(QueueName="signed"))["QueueUrl"]

    def event(address: str, **fields: Any) -> str:
        detail = samples.bounce([address], event=True, feedback_id=unique_id("fb"), message_id=unique_id("m"))
        return samples.eventbridge_event(detail, event_id=unique_id("ev"), **fields)

    # moto leaves out `account`: these bodies are what a real rule delivers, sent straight to SQS.
    await aws.send_body(routed.queue, event("mine@example.org"))
    await aws.send_body(routed.queue, event("foreign@example.org", account="210987654321"))
    await aws.send_body(routed.queue, event("nameless@example.org", account=None))
    await aws.send_body(routed.queue, event("other@example.org", source="aws.ec2"))
    await aws.send_body(signed, event("forged@example.org"))  # unsigned, on a queue not declared so
    settings = {**routed.environment(), "BOUNCED_COMPLAINT_QUEUE_URL": signed}
    daemon = drain_once(
        migrated, aws_env, tmp_path, {**settings, "BOUNCED_ALLOWED_ACCOUNTS": f"{ACCOUNT},111122223333"}
    )

    assert await fetch(migrated, STATUS) == [("mine@example.org", "suppressed", "user-unknown")]
    assert sorted(await fetch(migrated, "SELECT queue, code FROM quarantine")) == [
        ("bounce", "account_not_allowed"),
        ("bounce", "account_not_allowed"),
        ("bounce", "source_not_allowed"),
        ("complaint", "unsigned_body"),
    ]
    assert await aws.depth(routed.queue) == (0, 0)
    assert "@example.org" not in daemon.log_text()
