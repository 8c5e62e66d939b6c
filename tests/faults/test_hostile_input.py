"""A burst of hostile bodies mixed into good traffic: the good ones applied, every bad one quarantined
with its bytes as received, and the daemon never restarts, never logs an error, answers /healthz."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bounced.core import samples
from bounced.ingest.provision import FeedbackWiring
from tests.faults.harness import (
    Sent,
    assert_applied_once,
    assert_no_crash,
    daemon_env,
    decisions_from_metrics,
    expected_decisions,
    metric_samples,
    mix,
    send,
    settle,
)
from tests.support.feedback import Aws, unique_id
from tests.support.process import BouncedProcess

pytestmark = pytest.mark.faults

Document = dict[str, Any]


def _bounce(change: Callable[[Document], object]) -> str:
    document = samples.bounce(["victim@example.org"], feedback_id=unique_id("fb"), message_id=unique_id("m"))
    change(document)
    return json.dumps(document)  # ASCII: NULs and lone surrogates travel as \\u escapes


def _recipient(key: str, value: object) -> Callable[[Document], object]:
    return lambda d: d["bounce"]["bouncedRecipients"][0].__setitem__(key, value)


def _envelope(message: object) -> str:
    envelope = json.loads(samples.sns_wrap("{}"))
    envelope["Message"] = message
    return json.dumps(envelope)


def hostile_bodies() -> list[str]:
    """Bodies SQS carries (valid Unicode text) that no reader should trust."""
    good = samples.dumps(samples.bounce(["x@example.org"], feedback_id=unique_id("fb")))
    return [
        good[: len(good) // 2],  # truncated JSON
        "[" * 5000 + "]" * 5000,  # deep nesting
        '{"a":' * 3000 + "1" + "}" * 3000,
        _bounce(lambda d: d.__setitem__("notificationType", "B" * 200_000)),  # a huge string
        _bounce(_recipient("emailAddress", "a" * 100_000 + "@example.org")),
        _bounce(lambda d: d["bounce"].__setitem__("bouncedRecipients", "everyone")),  # wrong types
        _bounce(lambda d: d["bounce"].__setitem__("bounceType", 42)),
        _bounce(lambda d: d["bounce"].__setitem__("timestamp", 10**400)),
        _bounce(lambda d: d.__setitem__("mail", [])),
        _bounce(lambda d: d["bounce"].__setitem__("feedbackId", "fb\u0000x")),  # NUL escapes
        _bounce(_recipient("diagnosticCode", "smtp; 550\u0000")),
        _bounce(_recipient("emailAddress", "nul\u0000@example.org")),
        _bounce(lambda d: d["bounce"].__setitem__("feedbackId", "\ud800")),  # a lone surrogate
        _bounce(lambda d: d.__setitem__("notificationType", "Bogus")),  # unknown types
        _bounce(lambda d: d.__setitem__("eventType", "Teleport")),
        _bounce(_recipient("emailAddress", "not an address")),  # bad addresses
        _bounce(_recipient("emailAddress", "")),
        _bounce(_recipient("emailAddress", "@example.org")),
        "42",  # valid JSON, not an object
        "null",
        '"a string"',
        "[1, 2, 3]",
        "true",
        _envelope({"notificationType": "Bounce"}),  # SNS envelopes with a non-string Message
        _envelope(7),
        _envelope(None),
        _envelope(["Bounce"]),
        samples.sns_wrap("{not json"),
        "not json at all",
        " ",
    ]


def _huge_but_good(tag: str) -> Sent:
    """A real bounce with a 200 KB diagnostic code: odd, not hostile, and applied."""
    address = f"{tag}-huge@example.org"
    document = samples.bounce(
        [address],
        diagnostic="smtp; 550 " + "x" * 200_000,
        feedback_id=unique_id("fb"),
        message_id=unique_id("m"),
    )
    return Sent(
        queue="bounce",
        address=address,
        body=samples.dumps(document),
        via_sns=False,
        kind="bounce",
        action="suppress",
        status="suppressed",
        streak=0,
    )


async def test_hostile_bodies_are_quarantined_byte_exact_and_the_daemon_carries_on(
    aws: Aws, wiring: FeedbackWiring, migrated: str, aws_env: str, tmp_path: Path
) -> None:
    items = [*mix(32, "hostile"), _huge_but_good("hostile")]
    bad = hostile_bodies()
    daemon = BouncedProcess(["run"], daemon_env(migrated, aws_env, wiring, tmp_path), tmp_path / "b.log")
    try:
        daemon.wait_for("/readyz")
        pid = daemon.process.pid
        # Interleaved: each good one followed by a bad one, on every queue in turn.
        queues = ["bounce", "complaint", "delivery"]
        for index in range(max(len(items), len(bad))):
            if index < len(items):
                await send(aws, wiring, [items[index]])
            if index < len(bad):
                await aws.send_body(wiring.queues[queues[index % 3]], bad[index])
            assert daemon.get("/healthz")[0] == 200
        await settle(migrated, aws, wiring, events=len(items), quarantined=len(bad))
        assert daemon.get("/healthz")[0] == 200
        metrics = daemon.get("/metrics")[1].decode()
        assert daemon.process.poll() is None
        assert daemon.process.pid == pid
    finally:
        code = daemon.stop(timeout=30)
    assert code == 0
    assert_no_crash(daemon)
    await assert_applied_once(migrated, items, bad_bodies=[body.encode() for body in bad])
    assert decisions_from_metrics([metrics]) == expected_decisions(items)
    assert sum(metric_samples(metrics, "bounced_messages_quarantined_total").values()) == len(bad)
    assert "victim@example.org" not in daemon.log_text()  # bodies and addresses stay out of the logs


def test_the_hostile_set_is_distinct() -> None:
    bodies = hostile_bodies()
    assert len(set(bodies)) == len(bodies)
    assert all(len(b.encode()) < 256 * 1024 for b in bodies)  # what SQS accepts
