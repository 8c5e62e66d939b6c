"""Duplicates and concurrency: every message delivered three times, and three daemons on the same
queues and database. Effects happen once: events, state, retries, released retries, outbound
announcements, and the decision counters."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from bounced.ingest.provision import FeedbackWiring
from tests.faults.harness import (
    assert_applied_once,
    assert_no_crash,
    daemon_env,
    decisions_from_metrics,
    expected_decisions,
    fetchval,
    metric_samples,
    mix,
    send,
    settle,
    wait_for_value,
)
from tests.support.feedback import Aws
from tests.support.process import BouncedProcess

pytestmark = pytest.mark.faults


async def test_every_message_delivered_three_times(
    aws: Aws, wiring: FeedbackWiring, migrated: str, aws_env: str, tmp_path: Path
) -> None:
    items = mix(32, "thrice")
    # Half the copies side by side (taken at once by different pollers), half scattered.
    side_by_side = [item for item in items[:16] for _ in range(3)]
    scattered = items[16:] * 3
    random.Random(6).shuffle(scattered)
    await send(aws, wiring, side_by_side + scattered, concurrency=1)
    env = daemon_env(
        migrated, aws_env, wiring, tmp_path, BOUNCED_POLLERS_PER_QUEUE="4", BOUNCED_BATCH_SIZE="2"
    )
    daemon = BouncedProcess(["run"], env, tmp_path / "b.log")
    try:
        daemon.wait_for("/readyz")
        await settle(migrated, aws, wiring, events=len(items))
        metrics = daemon.get("/metrics")[1].decode()
    finally:
        code = daemon.stop(timeout=30)
    assert code == 0
    assert_no_crash(daemon)
    await assert_applied_once(migrated, items)
    assert decisions_from_metrics([metrics]) == expected_decisions(items)
    deleted = metric_samples(metrics, "bounced_messages_deleted_total")
    assert sum(deleted.values()) == 3 * len(items)  # every copy taken off its queue


async def _outbound(aws: Aws, queue_url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        reply = await aws.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = reply.get("Messages", [])
        if not messages:
            return found
        found += [json.loads(m["Body"]) for m in messages]
        await aws.sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )


async def test_three_instances_on_the_same_queues_database_and_retries(
    aws: Aws, wiring: FeedbackWiring, migrated: str, aws_env: str, tmp_path: Path
) -> None:
    items = mix(48, "three")
    transient = [i for i in items if i.action == "retry"]
    env = daemon_env(
        migrated,
        aws_env,
        wiring,
        tmp_path,
        windows='MailboxFull = ["1s"]',
        BOUNCED_BATCH_SIZE="4",
    )
    daemons = [BouncedProcess(["run"], env, tmp_path / f"b{n}.log") for n in range(3)]
    try:
        for daemon in daemons:
            daemon.wait_for("/readyz")
        await send(aws, wiring, items * 2)  # and each twice, so instances race on the same keys
        await settle(migrated, aws, wiring, events=len(items))
        announced = "SELECT count(*) FROM retries WHERE state = 'released' AND announced_at IS NOT NULL"
        await wait_for_value(migrated, announced, lambda n: n == len(transient))
        metrics = [daemon.get("/metrics")[1].decode() for daemon in daemons]
    finally:
        codes = [daemon.stop(timeout=30) for daemon in daemons]
    assert codes == [0, 0, 0]
    for daemon in daemons:
        assert_no_crash(daemon)
    await assert_applied_once(migrated, items, released=True)
    assert decisions_from_metrics(metrics) == expected_decisions(items)
    per_instance = [sum(decisions_from_metrics([m]).values()) for m in metrics]
    assert sum(1 for n in per_instance if n) >= 2, per_instance  # the work was really shared
    released = sum(sum(metric_samples(m, "bounced_retries_released_total").values()) for m in metrics)
    assert released == len(transient)
    # Each release announced exactly once on the outbound queue, whichever instance released it.
    outbound = await _outbound(aws, wiring.retry_queue)
    ids = await fetchval(migrated, "SELECT array_agg(id ORDER BY id) FROM retries WHERE state = 'released'")
    assert sorted(m["retry_id"] for m in outbound) == list(ids)
    assert sorted(m["address"] for m in outbound) == sorted(i.address for i in transient)
