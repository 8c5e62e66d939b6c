"""The database commands through `bounced.cli.main`, with the DSN in BOUNCED_DATABASE_URL."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bounced.cli import main
from bounced.core.policy import DEFAULT_POLICY
from tests.support.outcomes import delivery, hard_bounce, migrated_store, poison, soft_bounce

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.fixture
def database(empty_database: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BOUNCED_DATABASE_URL", empty_database)
    return empty_database


def _seed(dsn: str) -> None:
    async def seed() -> None:
        async with migrated_store(dsn, DEFAULT_POLICY) as store:
            await store.commit([soft_bounce(["a@example.com"], T0)], now=T0)
            await store.commit(
                [delivery(["b@example.com"], T0), hard_bounce(["b@example.com"], T0 + H)], now=T0 + H
            )
            await store.commit([poison(sqs_message_id="poison-1")], now=T0)
            await store.commit([soft_bounce(["c@example.com"], datetime.now(UTC) + 400 * H)], now=T0)

    asyncio.run(seed())


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line]


def test_migrate_then_again(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"]) == 0
    assert "applied migrations 1" in capsys.readouterr().out
    assert main(["migrate"]) == 0
    assert "nothing to apply" in capsys.readouterr().out


def test_status_json_contract_for_a_deferred_address(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(database)
    capsys.readouterr()
    assert main(["status", "  A@Example.COM ", "--json"]) == 0
    [shown] = _json_lines(capsys.readouterr().out)
    assert shown["address"] == "a@example.com"
    assert shown["status"] == "deferred"
    assert shown["retry_at"] == (T0 + H).isoformat()
    assert shown["soft_bounce_streak"] == 1
    assert shown["kind"] == "bounce"
    assert (shown["bounce_type"], shown["bounce_subtype"]) == ("Transient", "General")
    assert shown["reason"] == "soft"
    assert shown["since"] is not None
    [event] = shown["events"]
    assert set(event) >= {"kind", "action", "feedback_id", "ses_message_id", "occurred_at"}
    assert event["action"] == "retry"
    assert isinstance(event["notification_id"], int)
    assert (event["time_source"], event["claimed_time"], event["payload_kept"]) == ("feedback", None, True)


def test_status_events_newest_first_and_retry_at_null_when_not_deferred(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(database)
    capsys.readouterr()
    assert main(["status", "b@example.com", "--json"]) == 0
    [shown] = _json_lines(capsys.readouterr().out)
    assert shown["status"] == "suppressed"
    assert shown["retry_at"] is None
    assert [e["kind"] for e in shown["events"]] == ["bounce", "delivery"]


def test_status_text_and_unknown_address(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    _seed(database)
    capsys.readouterr()
    assert main(["status", "a@example.com"]) == 0
    assert "a@example.com: deferred" in capsys.readouterr().out
    assert main(["status", "nobody@example.com", "--json"]) == 3
    assert capsys.readouterr().out == ""


def test_status_reads_addresses_as_the_parser_stores_them(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(database)
    capsys.readouterr()
    assert main(["status", "A Person <A@Example.com>", "--json"]) == 0
    assert '"address": "a@example.com"' in capsys.readouterr().out
    assert main(["status", "not an address"]) == 3  # never stored, so never known
    assert "no record" in capsys.readouterr().err


def test_quarantine_list_json(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    _seed(database)
    capsys.readouterr()
    assert main(["quarantine", "list", "--json"]) == 0
    [item] = _json_lines(capsys.readouterr().out)
    assert {k: item[k] for k in ("queue", "sqs_message_id", "reason")} == {
        "queue": "bounce",
        "sqs_message_id": "poison-1",
        "reason": "not_json",
    }
    assert isinstance(item["id"], int)
    assert item["received_at"] == T0.isoformat()


def test_retries_list_all_and_due(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    _seed(database)
    capsys.readouterr()
    assert main(["retries", "list", "--json"]) == 0
    assert [r["address"] for r in _json_lines(capsys.readouterr().out)] == ["a@example.com", "c@example.com"]
    assert main(["retries", "list", "--due", "--json"]) == 0
    assert [r["address"] for r in _json_lines(capsys.readouterr().out)] == ["a@example.com"]


def test_a_schema_behind_is_refused_with_the_command_to_run(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "a@example.com"]) == 1
    assert "run `bounced migrate`" in capsys.readouterr().err


def test_an_unreachable_database_is_reported_without_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOUNCED_DATABASE_URL", "postgresql://bob:hunter2@127.0.0.1:1/nowhere")
    assert main(["status", "a@example.com"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the database at postgresql://bob:***@127.0.0.1:1/nowhere" in err
    assert "hunter2" not in err
    assert main(["migrate"]) == 1
    assert "hunter2" not in capsys.readouterr().err
