from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bounced.cli import classify as command
from bounced.cli import main
from bounced.core import samples
from bounced.core.model import ReadError, SnsEnvelope

FIELDS = {
    "input",
    "action",
    "address",
    "kind",
    "bounce_type",
    "bounce_subtype",
    "complaint_feedback_type",
    "complaint_subtype",
    "delay_type",
    "reason",
    "feedback_id",
    "ses_message_id",
    "occurred_at",
    "time_source",
    "claimed_time",
}


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_one_line_per_decision(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bounce = samples.bounce(
        ["A@Example.com", "用户@例子.广告"],
        bounce_type="Transient",
        subtype="MailboxFull",
        status="4.2.2",
        diagnostic="smtp; 452 4.2.2 mailbox full",
    )
    path = write(tmp_path, "b.json", samples.sns_wrap(samples.dumps(bounce)))
    assert main(["classify", path, "--no-verify-signatures"]) == 0
    first, second = lines(capsys)
    assert set(first) == FIELDS
    assert first == {
        "input": path,
        "action": "retry",
        "address": "a@example.com",
        "kind": "bounce",
        "bounce_type": "Transient",
        "bounce_subtype": "MailboxFull",
        "complaint_feedback_type": None,
        "complaint_subtype": None,
        "delay_type": None,
        "reason": "mailbox-full",
        "feedback_id": samples.FEEDBACK_ID,
        "ses_message_id": samples.MESSAGE_ID,
        "occurred_at": "2026-03-02T10:15:30.123000+00:00",
        "time_source": "feedback",
        "claimed_time": None,
    }
    assert second["address"] == "用户@例子.广告"


async def test_without_sqs_now_stands_in_for_the_sent_timestamp() -> None:
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    untimed = samples.bounce(["a@example.com"])
    del untimed["bounce"]["timestamp"], untimed["mail"]["timestamp"]
    future = samples.bounce(["b@example.com"], timestamp="2026-03-02T12:06:00Z")
    inputs = [("untimed", samples.dumps(untimed).encode()), ("future", samples.dumps(future).encode())]
    out = io.StringIO()
    assert await command.run(inputs, verifier=None, out=out, now=now) == 0
    untimed_line, future_line = (json.loads(line) for line in out.getvalue().splitlines())
    assert (untimed_line["action"], untimed_line["occurred_at"]) == ("suppress", now.isoformat())
    assert (untimed_line["time_source"], untimed_line["claimed_time"]) == ("received", None)
    assert (future_line["occurred_at"], future_line["time_source"]) == (now.isoformat(), "received")
    assert future_line["claimed_time"] == "2026-03-02T12:06:00Z"


def test_output_is_utf8_not_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "d.json", samples.dumps(samples.delivery(["josé@exämple.com"])))
    assert main(["classify", path]) == 0
    assert "josé@exämple.com" in capsys.readouterr().out


def test_no_recipients_gives_one_ignore(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "c.json", samples.subscription_confirmation())
    assert main(["classify", "--no-verify-signatures", path]) == 0
    (line,) = lines(capsys)
    assert (line["action"], line["address"], line["kind"]) == ("ignore", None, "subscription_confirmation")


def test_complaint_and_delay_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    complaint = write(
        tmp_path,
        "c.json",
        samples.dumps(samples.complaint(feedback_type="not-spam", subtype="OnAccountSuppressionList")),
    )
    delay = write(
        tmp_path, "d.json", samples.dumps(samples.delivery_delay(delay_type="RecipientServerError"))
    )
    assert main(["classify", complaint, delay]) == 0
    first, second = lines(capsys)
    assert (first["action"], first["complaint_feedback_type"], first["complaint_subtype"]) == (
        "ignore",
        "not-spam",
        "OnAccountSuppressionList",
    )
    assert (second["action"], second["delay_type"], second["kind"]) == (
        "retry",
        "RecipientServerError",
        "delivery_delay",
    )


def test_reject_prints_error_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "good.json", samples.dumps(samples.delivery()))
    bad = write(tmp_path, "bad.json", '{"notificationType": "Bounce"')
    assert main(["classify", bad, good]) == 1
    rejected, accepted = lines(capsys)
    assert rejected["input"] == bad
    assert rejected["action"] == "reject"
    assert rejected["error"].startswith("invalid_json")
    assert accepted["action"] == "clear"


def test_stdin_is_dash(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    body = samples.dumps(samples.complaint()).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(body)))
    assert main(["classify"]) == 0
    (line,) = lines(capsys)
    assert (line["input"], line["action"]) == ("-", "suppress")


def test_unreadable_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "good.json", samples.dumps(samples.delivery()))
    assert main(["classify", good, str(tmp_path / "missing.json")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert "missing.json" in captured.err


def test_allow_topic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = samples.dumps(samples.delivery())
    ours = write(tmp_path, "ours.json", samples.sns_wrap(message, topic_arn="arn:aws:sns:eu-west-1:1:ours"))
    theirs = write(
        tmp_path, "theirs.json", samples.sns_wrap(message, topic_arn="arn:aws:sns:eu-west-1:1:theirs")
    )
    raw = write(tmp_path, "raw.json", message)  # raw delivery has no topic to check
    args = [
        "classify",
        "--no-verify-signatures",
        "--allow-topic",
        "arn:aws:sns:eu-west-1:1:ours",
        "--allow-topic",
        "arn:x",
        ours,
        theirs,
        raw,
    ]
    assert main(args) == 1
    first, second, third = lines(capsys)
    assert first["action"] == "clear"
    assert second["action"] == "reject"
    assert second["error"].startswith("topic_not_allowed")
    assert third["action"] == "clear"


class Refuse:
    async def verify(self, envelope: SnsEnvelope) -> None:
        raise ReadError("bad_signature", f"refused {envelope.message_id}")


def test_verifier_factory_is_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[bool] = []

    def factory(verify: bool) -> Refuse | None:
        asked.append(verify)
        return Refuse() if verify else None

    monkeypatch.setattr(command, "verifier_factory", factory)
    wrapped = write(tmp_path, "w.json", samples.sns_wrap(samples.dumps(samples.delivery())))
    assert main(["classify", wrapped]) == 1
    assert lines(capsys)[0]["error"].startswith("bad_signature")
    assert main(["classify", "--no-verify-signatures", wrapped]) == 0
    assert asked == [True, False]


def test_console_script(tmp_path: Path) -> None:
    bounced = Path(sys.executable).parent / "bounced"
    path = write(tmp_path, "b.json", samples.dumps(samples.bounce()))
    result = subprocess.run(
        [str(bounced), "classify", path], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["action"] == "suppress"
    help_text = subprocess.run(
        [str(bounced), "classify", "--help"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "--allow-topic" in help_text
    assert "--no-verify-signatures" in help_text


def test_signatures_are_verified_by_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --no-verify-signatures an unsigned SNS envelope is rejected before anything is fetched."""
    message = samples.dumps(samples.delivery(["a@example.com"]))
    wrapped = write(tmp_path, "w.json", samples.sns_wrap(message, topic_arn="arn:aws:sns:eu-west-1:1:t"))
    assert main(["classify", wrapped]) == 1
    (line,) = lines(capsys)
    assert line["action"] == "reject"
    assert line["error"].split(":")[0] in {"unsigned", "bad_signature", "certificate_unavailable"}


class Buggy:
    async def verify(self, envelope: SnsEnvelope) -> None:
        raise OverflowError("date value out of range")


def test_a_bug_on_one_input_is_one_reject_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(command, "verifier_factory", lambda verify: Buggy())
    wrapped = write(tmp_path, "w.json", samples.sns_wrap(samples.dumps(samples.delivery())))
    raw = write(tmp_path, "raw.json", samples.dumps(samples.delivery()))
    assert main(["classify", wrapped, raw]) == 1
    captured = capsys.readouterr()
    assert captured.err == ""
    rejected, accepted = (json.loads(line) for line in captured.out.splitlines())
    assert (rejected["input"], rejected["action"]) == (wrapped, "reject")
    assert rejected["error"] == "internal_error: OverflowError"
    assert accepted["action"] == "clear"


def test_unreadable_recipients_are_one_reject_line_after_the_decisions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = samples.dumps(samples.bounce(["a@example.com", '"john doe"@example.com', "b@example.com"]))
    path = write(tmp_path, "b.json", body)
    assert main(["classify", path]) == 1
    first, second, rejected = lines(capsys)
    assert [first["address"], second["address"]] == ["a@example.com", "b@example.com"]
    assert (first["action"], rejected["action"]) == ("suppress", "reject")
    assert rejected["error"].startswith("unreadable_recipients: 1 of 3 recipients unreadable")
    assert """'"john doe"@example.com'""" in rejected["error"]
