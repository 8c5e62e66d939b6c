"""The demo's pieces that need no server: environment handling, port choice, the summary's text."""

from __future__ import annotations

import os
import socket
import sys
from datetime import UTC, datetime, timedelta

import pytest

from bounced.cli import demo as demo_command
from bounced.cli import main
from bounced.core.model import Status
from bounced.core.sendgate import RecipientAnswer
from bounced.demo import runner
from bounced.demo.campaign import campaign
from bounced.demo.summary import Held, Report, Row, render, serve_help
from bounced.ingest.provision import FeedbackWiring
from bounced.service.config import load_settings

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def test_patched_environ_points_aws_at_the_emulator_and_restores_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "https://sqs.eu-west-1.amazonaws.com")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with runner.patched_environ(runner.aws_environment("http://127.0.0.1:5555")):
        assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5555"
        assert os.environ["AWS_REGION"] == runner.REGION
        assert "AWS_ENDPOINT_URL_SQS" not in os.environ  # would send SQS calls past the emulator
    assert os.environ["AWS_ENDPOINT_URL_SQS"] == "https://sqs.eu-west-1.amazonaws.com"
    assert os.environ["AWS_REGION"] == "eu-west-1"
    assert "AWS_ENDPOINT_URL" not in os.environ


def test_the_daemon_takes_unsigned_bodies_only_on_the_queues_subscribed_raw() -> None:
    queues = {kind: f"http://127.0.0.1:5555/1/{kind}" for kind in ("bounce", "complaint", "delivery")}
    wiring = FeedbackWiring(
        topics={kind: f"arn:aws:sns:us-east-1:1:{kind}" for kind in queues},
        queues=queues,
        dead_letter_queues=queues,
        retry_queue="http://127.0.0.1:5555/1/retries",
        raw_delivery=frozenset(k for k, raw in runner.RAW_DELIVERY.items() if raw),
    )
    env = runner.daemon_environment(
        "postgresql://x@127.0.0.1/d", "http://127.0.0.1:5555", "127.0.0.1:0", wiring
    )
    assert load_settings(env).unsigned_queues == {"complaint"}


def test_the_http_port_is_8080_when_free_else_another_on_loopback() -> None:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", runner.PREFERRED_HTTP_PORT))
        except OSError:
            pytest.skip("8080 is in use on this machine")
        chosen = runner.pick_http_addr()  # 8080 is held by the probe now
    host, port = chosen.rsplit(":", 1)
    assert host == "127.0.0.1"
    assert int(port) != runner.PREFERRED_HTTP_PORT


def _report() -> Report:
    items = campaign(NOW)
    gone = RecipientAnswer("ada@example.org", Status.SUPPRESSED, "user-unknown")
    later = RecipientAnswer("emil@example.org", Status.DEFERRED, "expired", NOW + timedelta(minutes=2))
    look = RecipientAnswer("gus@example.org", Status.REVIEW, "message-too-large")
    rows = (
        Row("ada@example.org", ("Bounce Permanent/General",), gone),
        Row("emil@example.org", ("Bounce Transient/General",), later),
        Row("gus@example.org", ("Bounce Transient/MessageTooLarge",), look),
        Row("lea@example.org", ("Complaint not-spam",), None),
    )
    held = (Held(7, "bounce", "invalid_json", "body is not JSON " + "x" * 200),)
    return Report(rows, rows[2:3], held, len(items), "127.0.0.1:8080", NOW)


def test_the_summary_shows_status_reason_retry_time_review_quarantine_and_metrics() -> None:
    text = render(_report(), elapsed=3.25)
    assert "22 messages" in text
    assert "3.2 s in all" in text
    emil = next(line for line in text.splitlines() if line.startswith("emil@example.org"))
    assert "deferred" in emil
    assert "12:02:00 UTC (in 2 min)" in emil
    lea = next(line for line in text.splitlines() if line.startswith("lea@example.org"))
    assert "(none)" in lea
    assert "yes" in lea
    assert "Review queue (1)" in text
    assert "Quarantine (1)" in text
    assert "#7" in text
    assert max(len(line) for line in text.splitlines() if line.startswith("  #7")) < 120
    assert "http://127.0.0.1:8080/metrics" in text


def test_serve_help_prints_the_exports_for_the_cli() -> None:
    env = {
        "BOUNCED_DATABASE_URL": "postgresql://x@/db",
        "AWS_REGION": "us-east-1",
        "BOUNCED_LOG_LEVEL": "warning",
    }
    text = serve_help(env, "127.0.0.1:9999")
    assert "export BOUNCED_DATABASE_URL='postgresql://x@/db'" in text
    assert "export AWS_REGION='us-east-1'" in text
    assert "BOUNCED_LOG_LEVEL" not in text
    assert "http://127.0.0.1:9999/metrics" in text


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://bob:s3cret@db:5432/demo_1", "postgresql://bob@db:5432/demo_1"),
        ("postgresql://bob:s3cret@db/demo_1?sslmode=require", "postgresql://bob@db/demo_1?sslmode=require"),
        ("postgresql://db/demo_1?user=bob&password=s3cret", "postgresql://db/demo_1?user=bob"),
    ],
)
def test_serve_help_never_prints_the_password(dsn: str, shown: str) -> None:
    text = serve_help({"BOUNCED_DATABASE_URL": dsn}, "127.0.0.1:9999")
    assert "s3cret" not in text
    assert f"export BOUNCED_DATABASE_URL='{shown}'" in text
    assert "PGPASSWORD" in text  # says how to give the password the line leaves out


def test_serve_help_mentions_no_password_when_there_is_none() -> None:
    assert "PGPASSWORD" not in serve_help({"BOUNCED_DATABASE_URL": "postgresql://x@/db"}, "127.0.0.1:9999")


def test_without_the_embedded_extra_the_demo_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "moto.server", None)  # importing it now raises ImportError
    monkeypatch.setattr(demo_command, "configure_logging", lambda *_: None)  # keep structlog's set-up
    assert main(["demo"]) == 2
    assert "pip install 'bounced-ses[embedded]'" in capsys.readouterr().err
