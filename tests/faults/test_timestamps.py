"""Timestamps that lie or are missing, through the real `bounced run` process: a hard bounce is applied
whatever its times say, a time far in the future freezes and defers nothing, and the notification
row says which time was used and keeps the one claimed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bounced.core import samples
from bounced.ingest.provision import FeedbackWiring
from tests.faults.harness import assert_no_crash, daemon_env, settle
from tests.support.feedback import Aws, unique_id
from tests.support.process import BouncedProcess

pytestmark = pytest.mark.faults

Document = dict[str, Any]
FAR_FUTURE = "2999-01-01T00:00:00Z"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _hard(address: str, feedback_time: object, mail_time: object) -> Document:
    document = samples.bounce([address], feedback_id=unique_id("fb"), message_id=unique_id("m"))
    document["bounce"]["timestamp"] = feedback_time
    document["mail"]["timestamp"] = mail_time
    return document


async def _rows(dsn: str, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


async def _states(dsn: str) -> dict[str, tuple[str, datetime | None]]:
    rows = await _rows(dsn, "SELECT address, status, retry_at FROM recipients")
    return {r["address"]: (r["status"], r["retry_at"]) for r in rows}


async def _timing(dsn: str) -> dict[str, tuple[str, str | None]]:
    """address -> (time_source, claimed_time) of its latest event's notification."""
    rows = await _rows(
        dsn,
        "SELECT DISTINCT ON (e.address) e.address, n.time_source, n.claimed_time FROM events AS e"
        " JOIN notifications AS n ON n.id = e.notification_id ORDER BY e.address, e.id DESC",
    )
    return {r["address"]: (r["time_source"], r["claimed_time"]) for r in rows}


async def test_lying_and_missing_timestamps_never_lose_a_bounce(
    aws: Aws, wiring: FeedbackWiring, migrated: str, aws_env: str, tmp_path: Path
) -> None:
    bounce_topic, bounce_queue = wiring.topics["bounce"], wiring.queues["bounce"]
    daemon = BouncedProcess(["run"], daemon_env(migrated, aws_env, wiring, tmp_path), tmp_path / "b.log")
    try:
        daemon.wait_for("/readyz")
        # A delivery from the far future, then (once applied) a hard bounce of now.
        delivery = samples.delivery(["frozen@example.org"], message_id=unique_id("m"), timestamp=FAR_FUTURE)
        await aws.publish(wiring.topics["delivery"], delivery)
        await settle(migrated, aws, wiring, events=1)
        await aws.publish(bounce_topic, _hard("frozen@example.org", _now(), _now()))
        # A soft bounce from the far future; hard bounces with null, odd and extreme times.
        soft = samples.bounce(
            ["soft@example.org"],
            bounce_type="Transient",
            subtype="MailboxFull",
            feedback_id=unique_id("fb"),
            message_id=unique_id("m"),
            timestamp=FAR_FUTURE,
        )
        await aws.publish(bounce_topic, soft)
        await aws.publish(bounce_topic, _hard("nulls-sns@example.org", None, None))
        await aws.send_body(bounce_queue, samples.dumps(_hard("nulls-raw@example.org", None, None)))
        rfc1123 = samples.sns_wrap(
            samples.dumps(_hard("rfc1123@example.org", None, None)),
            topic_arn=bounce_topic,
            message_id=unique_id("sns"),
            timestamp=datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT"),
        )
        await aws.send_body(bounce_queue, rfc1123)
        extreme = "9999-12-31T23:59:59-01:00"
        await aws.publish(bounce_topic, _hard("extreme@example.org", extreme, "0001-01-01T00:00:00+01:00"))
        no_zone = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
        await aws.publish(bounce_topic, _hard("nozone@example.org", no_zone, None))
        await aws.publish(
            bounce_topic, _hard("epoch@example.org", str(int(datetime.now(UTC).timestamp())), None)
        )
        await settle(migrated, aws, wiring, events=9)
    finally:
        code = daemon.stop(timeout=30)
    assert code == 0
    assert_no_crash(daemon)
    states = await _states(migrated)
    hard = ["frozen", "nulls-sns", "nulls-raw", "rfc1123", "extreme", "nozone", "epoch"]
    assert {f"{name}@example.org": "suppressed" for name in hard}.items() <= {
        a: s for a, (s, _) in states.items()
    }.items()
    soft_status, retry_at = states["soft@example.org"]
    assert soft_status == "deferred"
    assert retry_at is not None
    assert retry_at < datetime.now(UTC) + timedelta(days=2)  # MailboxFull waits a day first
    timing = await _timing(migrated)
    assert timing["soft@example.org"] == ("sqs", FAR_FUTURE)
    assert timing["nulls-sns@example.org"] == ("envelope", None)
    assert timing["nulls-raw@example.org"] == ("sqs", None)
    assert timing["rfc1123@example.org"] == ("envelope", None)
    assert timing["extreme@example.org"] == ("sqs", extreme)
    assert timing["nozone@example.org"] == ("feedback", None)
    assert timing["epoch@example.org"] == ("feedback", None)
    assert await _rows(migrated, "SELECT id FROM quarantine") == []
