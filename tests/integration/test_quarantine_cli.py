"""`bounced quarantine show|replay|discard` and `bounced prune` against a real PostgreSQL."""

from __future__ import annotations

import base64
import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest

from bounced.cli import classify as classify_command
from bounced.core import samples
from bounced.core.model import Quarantined, SnsEnvelope
from bounced.db.store import Store
from tests.integration.admin_support import Cli
from tests.support.outcomes import hard_bounce

NOW = datetime.now(UTC)
_SQS_IDS = itertools.count(1)
GOOD = samples.dumps(samples.bounce(["fixed@example.org"])).encode()


@pytest.fixture
def cli(empty_database: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The CLI pointed at a freshly migrated database, signature checks off (bodies are unsigned)."""
    for name in ("BOUNCED_TEST_DSN", "BOUNCED_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BOUNCED_DATABASE_URL", empty_database)
    monkeypatch.setenv("BOUNCED_VERIFY_SIGNATURES", "false")
    runner = Cli(empty_database, capsys)

    async def nothing(store: Store) -> None:
        return None

    runner.with_store(nothing)
    return runner


def _quarantine(cli: Cli, body: bytes, code: str = "invalid_json", at: datetime = NOW) -> int:
    sqs_id = f"sqs-{next(_SQS_IDS)}"
    cli.commit([Quarantined("bounce", sqs_id, body, code, "as received")], at)
    return int(cli.fetch("SELECT id FROM quarantine WHERE sqs_message_id = $1", sqs_id)[0]["id"])


# -- show ---------------------------------------------------------------------------------------


def test_show_prints_utf8_text_with_control_characters_escaped(cli: Cli) -> None:
    qid = _quarantine(cli, b'{"x": "\x1b[31mred\x1b[0m"}\nline two')
    code, out, _ = cli("quarantine", "show", str(qid))
    assert code == 0
    assert "\x1b" not in out
    assert "\\x1b[31mred" in out
    assert "line two" in out
    assert "body (utf-8, " in out


@pytest.mark.parametrize(
    "args",
    [
        ["quarantine", "list"],
        ["quarantine", "show"],
        ["quarantine", "replay"],
        ["quarantine", "list", "--json"],
    ],
)
def test_a_hostile_reason_cannot_drive_the_terminal(cli: Cli, args: list[str]) -> None:
    sqs_id = f"sqs-{next(_SQS_IDS)}"
    hostile = "\x1b]0;owned\x07\x9b2J\u202e"
    cli.commit([Quarantined("bounce", sqs_id, b"{\x1b[2J", "invalid_json", f"detail {hostile}")], NOW)
    qid = cli.fetch("SELECT id FROM quarantine WHERE sqs_message_id = $1", sqs_id)[0]["id"]
    _, out, err = cli(*args, *([str(qid)] if args[-1] in ("show", "replay") else []))
    assert out + err
    assert not any(ch in out + err for ch in "\x1b\x07\x9b\u202e"), repr(out + err)


def test_show_json_gives_base64_for_bytes_that_are_not_utf8(cli: Cli) -> None:
    raw = b"\xff\xfe binary \x00"
    qid = _quarantine(cli, raw)
    code, out, _ = cli("quarantine", "show", str(qid), "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["body_encoding"] == "base64"
    assert base64.b64decode(shown["body"]) == raw
    assert (shown["id"], shown["queue"], shown["reason"]) == (qid, "bounce", "invalid_json")


@pytest.mark.parametrize(("args", "code"), [(["999"], 3), (["abc"], 2), (["-1"], 2), ([], 2)])
def test_show_unknown_or_malformed_ids(cli: Cli, args: list[str], code: int) -> None:
    assert cli("quarantine", "show", *args)[0] == code


# -- replay -------------------------------------------------------------------------------------


def test_replay_commits_a_message_that_now_reads_and_marks_it_replayed(cli: Cli) -> None:
    qid = _quarantine(cli, GOOD, code="receive_count_exceeded")
    code, out, _ = cli("quarantine", "replay", str(qid), "--json")
    assert code == 0
    assert json.loads(out) == {
        "id": qid,
        "result": "replayed",
        "reason": None,
        "detail": None,
        "decisions": 1,
    }
    status = cli.fetch("SELECT status, reason FROM recipients WHERE address = 'fixed@example.org'")
    assert (status[0]["status"], status[0]["reason"]) == ("suppressed", "user-unknown")
    assert cli.fetch("SELECT replayed_at FROM quarantine WHERE id = $1", qid)[0]["replayed_at"] is not None
    # Replaying again skips it; the audit log has the event once.
    assert cli("quarantine", "replay", str(qid), "--json")[0] == 0
    assert len(cli.fetch("SELECT id FROM events WHERE address = 'fixed@example.org'")) == 1


def test_a_still_bad_message_stays_quarantined_with_the_new_reason(cli: Cli) -> None:
    qid = _quarantine(cli, b'{"notificationType": "Bounce"}', code="receive_count_exceeded")
    code, out, _ = cli("quarantine", "replay", str(qid), "--json")
    assert code == 1
    line = json.loads(out)
    assert line["result"] == "still_bad"
    row = cli.fetch("SELECT code, replayed_at FROM quarantine WHERE id = $1", qid)[0]
    assert row["code"] == line["reason"] != "receive_count_exceeded"
    assert row["replayed_at"] is None


def test_replay_all_reports_each_and_fails_when_any_failed(cli: Cli) -> None:
    good = _quarantine(cli, GOOD, code="receive_count_exceeded")
    bad = _quarantine(cli, b"not json at all")
    code, out, _ = cli("quarantine", "replay", "--all", "--json")
    assert code == 1
    results = {json.loads(line)["id"]: json.loads(line)["result"] for line in out.splitlines()}
    assert results == {good: "replayed", bad: "still_bad"}
    # Only the bad one is left to replay.
    code, out, _ = cli("quarantine", "replay", "--all", "--json")
    assert [json.loads(line)["id"] for line in out.splitlines()] == [bad]


def test_replay_of_a_message_with_unreadable_recipients_applies_the_rest_and_keeps_it(cli: Cli) -> None:
    body = samples.dumps(samples.bounce(["part@example.org", '"john doe"@example.com'])).encode()
    qid = _quarantine(cli, body, code="bad_address")  # as a bounced that could not read it whole kept it
    for _ in range(2):  # twice: the second changes nothing
        code, out, err = cli("quarantine", "replay", str(qid), "--json")
        assert (code, err) == (0, "")
        line = json.loads(out)
        assert (line["result"], line["reason"], line["decisions"]) == ("partial", "unreadable_recipients", 1)
        assert """'"john doe"@example.com'""" in line["detail"]
        row = cli.fetch("SELECT code, detail, replayed_at, discarded_at FROM quarantine WHERE id = $1", qid)[
            0
        ]
        assert (row["code"], row["detail"]) == (line["reason"], line["detail"])
        assert row["replayed_at"] is row["discarded_at"] is None
        assert len(cli.fetch("SELECT id FROM events WHERE address = 'part@example.org'")) == 1
    status = cli.fetch("SELECT status FROM recipients WHERE address = 'part@example.org'")
    assert status[0]["status"] == "suppressed"
    code, out, _ = cli("quarantine", "replay", str(qid))
    assert code == 0
    assert out.startswith(f"{qid}: partial: unreadable_recipients 1 of 2 recipients unreadable")
    code, out, _ = cli("quarantine", "list")
    assert "\tunreadable_recipients: 1 of 2 recipients unreadable" in out


class BuggyVerifier:
    async def verify(self, envelope: SnsEnvelope) -> None:
        raise OverflowError("date value out of range")


def test_a_bug_on_replay_is_one_line_and_the_message_stays(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOUNCED_VERIFY_SIGNATURES", "true")
    monkeypatch.setattr(classify_command, "verifier_factory", lambda verify: BuggyVerifier())
    qid = _quarantine(cli, samples.sns_wrap(GOOD.decode()).encode(), code="receive_count_exceeded")
    code, out, err = cli("quarantine", "replay", str(qid))
    assert code == 1
    assert out == ""
    assert err == f"{qid}: still_bad: internal_error OverflowError\n"
    row = cli.fetch("SELECT code, detail, replayed_at FROM quarantine WHERE id = $1", qid)[0]
    assert (row["code"], row["detail"], row["replayed_at"]) == ("internal_error", "OverflowError", None)


@pytest.mark.parametrize(("args", "code"), [(["12345"], 3), ([], 2), (["1", "--all"], 2), (["x"], 2)])
def test_replay_unknown_or_malformed(cli: Cli, args: list[str], code: int) -> None:
    assert cli("quarantine", "replay", *args)[0] == code


# -- discard ------------------------------------------------------------------------------------


def test_discard_asks_then_hides_the_message(cli: Cli) -> None:
    qid = _quarantine(cli, b"junk")
    assert cli("quarantine", "discard", str(qid))[0] == 2  # no terminal, no --yes
    assert cli("quarantine", "discard", str(qid), "--yes", "--json")[0] == 0
    _, out, _ = cli("quarantine", "list", "--json")
    assert out == ""
    code, out, _ = cli("quarantine", "discard", str(qid), "--yes", "--json")
    assert code == 0
    assert json.loads(out)["changed"] is False
    assert cli("quarantine", "replay", str(qid), "--json")[0] == 0  # skipped, not failed
    assert cli("quarantine", "discard", "777", "--yes")[0] == 3


# -- prune --------------------------------------------------------------------------------------


def test_prune_dry_run_counts_and_prune_removes_only_old_payloads(cli: Cli) -> None:
    old = NOW - timedelta(days=200)
    cli.commit([hard_bounce(["old@example.org"], old)], old)
    cli.commit([hard_bounce(["new@example.org"], NOW)], NOW)
    _quarantine(cli, b"old junk", at=old)
    kept = _quarantine(cli, b"new junk", at=NOW)
    code, out, _ = cli("prune", "--dry-run", "--json")
    assert code == 0
    assert json.loads(out) | {"before": None} == {
        "dry_run": True,
        "retention_days": 180,
        "before": None,
        "payloads": 1,
        "quarantined": 1,
    }
    assert cli("prune")[0] == 2  # destructive: needs --yes without a terminal
    code, out, _ = cli("prune", "--yes", "--json")
    assert (json.loads(out)["payloads"], json.loads(out)["quarantined"]) == (1, 1)
    events = cli.fetch(
        "SELECT e.address, n.payload IS NULL AS pruned, e.reason"
        " FROM events AS e JOIN notifications AS n ON n.id = e.notification_id ORDER BY e.address"
    )
    assert [(e["address"], e["pruned"], e["reason"]) for e in events] == [
        ("new@example.org", False, "user-unknown"),
        ("old@example.org", True, "user-unknown"),
    ]
    # The state, and why the address is suppressed, are untouched.
    state = cli.fetch("SELECT status, reason, bounce_type FROM recipients WHERE address = 'old@example.org'")
    assert tuple(state[0]) == ("suppressed", "user-unknown", "Permanent")
    assert [row["id"] for row in cli.fetch("SELECT id FROM quarantine")] == [kept]


def test_prune_honours_the_retention_setting(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    at = NOW - timedelta(days=10)
    cli.commit([hard_bounce(["a@example.org"], at)], at)
    monkeypatch.setenv("BOUNCED_RETENTION_DAYS", "30")
    assert json.loads(cli("prune", "--dry-run", "--json")[1])["payloads"] == 0
    monkeypatch.setenv("BOUNCED_RETENTION_DAYS", "7")
    assert json.loads(cli("prune", "--dry-run", "--json")[1])["payloads"] == 1
    monkeypatch.setenv("BOUNCED_RETENTION_DAYS", "0")
    assert cli("prune", "--dry-run")[0] == 2
