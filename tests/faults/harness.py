"""What every fault scenario shares: a known mix of notifications, the daemon's environment, and the
final check of the database, the queues and the metrics against what was sent.

The model is deliberately simple so that "applied exactly once" is exact: every notification names
one recipient of its own, so each one is one `events` row and decides one address's final state.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bounced.core import samples
from bounced.ingest.provision import FeedbackWiring
from tests.support.aws import FAKE_CREDENTIALS
from tests.support.feedback import Aws, unique_id
from tests.support.process import BouncedProcess


@dataclass(frozen=True, slots=True)
class Sent:
    """One notification of the mix and what it must leave behind."""

    queue: str  # bounce, complaint or delivery
    address: str
    body: str  # the SES JSON (SNS wraps it on the way when `via_sns`)
    via_sns: bool
    kind: str
    action: str
    status: str  # the address's final status (transient: before any release)
    streak: int  # soft-bounce streak after this notification


def _now() -> str:
    # Retries fall due from the bounce's own time: keep it "now" so the default windows hold.
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _one(index: int, tag: str) -> Sent:
    address = f"{tag}-{index}@example.org"
    via_sns = index % 2 == 0
    flavour = (index // 2) % 4
    at = _now()
    if flavour == 0:
        doc = samples.bounce([address], feedback_id=unique_id("fb"), message_id=unique_id("m"), timestamp=at)
        return Sent("bounce", address, samples.dumps(doc), via_sns, "bounce", "suppress", "suppressed", 0)
    if flavour == 1:
        doc = samples.bounce(
            [address],
            bounce_type="Transient",
            subtype="MailboxFull",
            status="4.2.2",
            diagnostic="smtp; 452 4.2.2 mailbox full",
            feedback_id=unique_id("fb"),
            message_id=unique_id("m"),
            timestamp=at,
        )
        return Sent("bounce", address, samples.dumps(doc), via_sns, "bounce", "retry", "deferred", 1)
    if flavour == 2:
        doc = samples.complaint(
            [address], feedback_id=unique_id("fb"), message_id=unique_id("m"), timestamp=at
        )
        return Sent(
            "complaint", address, samples.dumps(doc), via_sns, "complaint", "suppress", "suppressed", 0
        )
    doc = samples.delivery([address], message_id=unique_id("m"), timestamp=at)
    return Sent("delivery", address, samples.dumps(doc), via_sns, "delivery", "clear", "active", 0)


def mix(count: int, tag: str) -> list[Sent]:
    """`count` notifications: permanent bounces, MailboxFull bounces, complaints and deliveries, every
    other one SNS-wrapped (published to the topic) and the rest raw (put straight on the queue)."""
    return [_one(index, tag) for index in range(count)]


async def send(aws: Aws, wiring: FeedbackWiring, items: Iterable[Sent], *, concurrency: int = 8) -> None:
    """Publish each item (SNS-wrapped through its topic, or raw onto its queue)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(item: Sent) -> None:
        async with gate:
            if item.via_sns:
                await aws.sns.publish(TopicArn=wiring.topics[item.queue], Message=item.body)
            else:
                await aws.send_body(wiring.queues[item.queue], item.body)

    await asyncio.gather(*(one(item) for item in items))


def daemon_env(
    dsn: str,
    endpoint: str,
    wiring: FeedbackWiring,
    tmp_path: Path,
    *,
    windows: str = "",
    **extra: str,
) -> dict[str, str]:
    """The environment of `bounced run` for a scenario: short visibility timeout and long polls, so
    released or abandoned messages come back within seconds."""
    config = tmp_path / "bounced.toml"
    config.write_text(f"[retry.windows]\n{windows}\n", encoding="utf-8")
    return {
        **FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "BOUNCED_DATABASE_URL": dsn,
        "BOUNCED_VERIFY_SIGNATURES": "false",
        "BOUNCED_WAIT_TIME_SECONDS": "1",
        "BOUNCED_VISIBILITY_TIMEOUT": "5",
        "BOUNCED_SCHEDULER_INTERVAL": "0.2",
        "BOUNCED_QUEUE_METRICS_INTERVAL": "1",
        "BOUNCED_SHUTDOWN_GRACE": "10",
        "BOUNCED_CONFIG": str(config),
        **wiring.environment(),
        **extra,
    }


async def fetchval(dsn: str, query: str, *args: object) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def wait_for_value(dsn: str, query: str, check: Any, *args: object, within: float = 30.0) -> Any:
    """Poll `query` until `check(value)` holds; fail with the last value."""
    deadline = time.monotonic() + within
    value: Any = None
    while time.monotonic() < deadline:
        try:
            value = await fetchval(dsn, query, *args)
        except (OSError, asyncpg.PostgresError) as exc:
            value = exc
        else:
            if check(value):
                return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"{query} gave {value!r} after {within}s")


async def queue_depths(aws: Aws, wiring: FeedbackWiring) -> dict[str, tuple[int, int]]:
    """(visible, in flight) of every feedback queue and dead-letter queue."""
    urls = {**wiring.queues, **{f"{k}-dlq": u for k, u in wiring.dead_letter_queues.items()}}
    return {name: await aws.depth(url) for name, url in urls.items()}


async def settle(
    dsn: str, aws: Aws, wiring: FeedbackWiring, *, events: int, quarantined: int = 0, within: float = 60.0
) -> None:
    """Wait until the database holds `events` events and `quarantined` quarantined messages and every
    queue is empty (nothing visible, nothing in flight)."""
    deadline = time.monotonic() + within
    seen: object = None
    while time.monotonic() < deadline:
        try:
            counts = (
                await fetchval(dsn, "SELECT count(*) FROM events"),
                await fetchval(dsn, "SELECT count(*) FROM quarantine"),
            )
        except (OSError, asyncpg.PostgresError) as exc:
            counts = (-1, repr(exc))
        depths = await queue_depths(aws, wiring)
        seen = (counts, depths)
        if counts == (events, quarantined) and all(d == (0, 0) for d in depths.values()):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not settled in {within}s: (events, quarantine), depths = {seen}")


async def assert_applied_once(
    dsn: str, items: Sequence[Sent], *, bad_bodies: Sequence[bytes] = (), released: bool = False
) -> None:
    """The database holds exactly the effects of `items`, each once, and the quarantine holds exactly
    `bad_bodies` (byte for byte). `released`: the MailboxFull retries have come due and been released."""
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM events") == len(items)
        per_key = await conn.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM events GROUP BY kind, feedback_id, ses_message_id, address"
            " HAVING count(*) > 1) AS twice"
        )
        assert per_key == 0
        events = Counter(
            (r["kind"], r["action"]) for r in await conn.fetch("SELECT kind, action FROM events")
        )
        assert events == expected_decisions(items)
        rows = await conn.fetch("SELECT address, status, soft_bounce_streak FROM recipients")
        assert {r["address"]: (r["status"], r["soft_bounce_streak"]) for r in rows} == {
            i.address: (_final_status(i, released), i.streak) for i in items
        }
        retries = await conn.fetch("SELECT address, state, attempt FROM retries")
        state = "released" if released else "pending"
        assert sorted((r["address"], r["state"], r["attempt"]) for r in retries) == sorted(
            (i.address, state, 1) for i in items if i.action == "retry"
        )
        bodies = [bytes(r["body"]) for r in await conn.fetch("SELECT body FROM quarantine")]
        assert sorted(bodies) == sorted(bad_bodies)
    finally:
        await conn.close()


def _final_status(item: Sent, released: bool) -> str:
    return "active" if released and item.action == "retry" else item.status


def expected_decisions(items: Iterable[Sent]) -> Counter[tuple[str, str]]:
    """(kind, action) -> how many decisions the items must produce."""
    return Counter((i.kind, i.action) for i in items)


def assert_never_overcounted(counted: Counter[tuple[str, str]], items: Iterable[Sent]) -> None:
    """Counters at most what was sent. (Where PostgreSQL stops mid-commit, a batch it committed but
    whose reply was cut off comes back as a duplicate: applied once, counted by no one. See
    docs/explanation/guarantees.md, Limits.)"""
    expected = expected_decisions(items)
    assert set(counted) <= set(expected), (counted, expected)
    assert all(counted[key] <= expected[key] for key in counted), (counted, expected)


_SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def metric_samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample of metric `name` in a Prometheus text exposition: sorted labels -> value."""
    found = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and match["name"] == name:
            labels = tuple(sorted(_LABEL.findall(match["labels"] or "")))
            found[labels] = float(match["value"])
    return found


def decisions_from_metrics(texts: Iterable[str]) -> Counter[tuple[str, str]]:
    """`bounced_decisions_total` summed over one or more daemons' /metrics, as (kind, action) counts."""
    total: Counter[tuple[str, str]] = Counter()
    for text in texts:
        for labels, value in metric_samples(text, "bounced_decisions_total").items():
            named = dict(labels)
            if value:
                total[(named["kind"], named["action"])] += int(value)
    return total


def wait_for_event(process: BouncedProcess, name: str, *, count: int = 1, within: float = 30.0) -> None:
    """Block until the process has logged event `name` `count` times (it runs in another process, so
    blocking here stalls nothing it needs)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.event_names().count(name) >= count:
            return
        if process.process.poll() is not None:
            raise AssertionError(f"bounced exited waiting for {name}:\n{process.log_text()}")
        time.sleep(0.1)
    raise AssertionError(f"no {name} logged in {within}s:\n{process.log_text()[-5000:]}")


def assert_no_crash(process: BouncedProcess) -> None:
    """Nothing in the log says the daemon failed: every line is a JSON event, none at error level, and
    the only one carrying a traceback is asyncpg's own warning while PostgreSQL is down (its pool
    retries keeping its minimum size and logs each failure with the stack)."""
    stray = [line for line in process.log_text().splitlines() if line.strip() and not line.startswith("{")]
    assert not stray, stray[:20]
    errors = [e for e in process.events() if e.get("level") in ("error", "critical")]
    assert not errors, errors
    with_traceback = [e for e in process.events() if "exception" in e]
    assert all(e.get("event") == ASYNCPG_POOL_FLOOR for e in with_traceback), with_traceback


ASYNCPG_POOL_FLOOR = "Failed to restore the pool connection floor; retrying"


async def wait_until(
    probe: Callable[[], Awaitable[Any]], check: Callable[[Any], bool], within: float = 30
) -> Any:
    """Await `probe()` until `check(value)` holds; fail with the last value."""
    deadline = time.monotonic() + within
    value: Any = None
    while time.monotonic() < deadline:
        value = await probe()
        if check(value):
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"{probe} gave {value!r} after {within}s")
