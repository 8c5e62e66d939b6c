"""The admin commands against a real PostgreSQL: suppress, unsuppress, list, export, review, status."""

from __future__ import annotations

import csv
import getpass
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from bounced.cli import listing
from bounced.core.model import Action, Kind, Status
from bounced.db.store import Store
from tests.integration.admin_support import Cli
from tests.support.outcomes import applied, delivery, hard_bounce, notification, soft_bounce

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def cli(empty_database: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The CLI pointed at a freshly migrated database."""
    for name in ("BOUNCED_TEST_DSN", "BOUNCED_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BOUNCED_DATABASE_URL", empty_database)
    runner = Cli(empty_database, capsys)

    async def nothing(store: Store) -> None:
        return None

    runner.with_store(nothing)  # migrates
    return runner


def _status(cli: Cli, address: str) -> dict[str, object]:
    code, out, _ = cli("status", address, "--json")
    assert code == 0
    parsed: dict[str, object] = json.loads(out)
    return parsed


def _manual_events(cli: Cli, address: str) -> list[dict[str, object]]:
    rows = cli.fetch(
        "SELECT kind, action, reason, actor, note FROM events "
        "WHERE address = $1 AND kind = 'manual' ORDER BY id",
        address,
    )
    return [dict(row) for row in rows]


# -- suppress -----------------------------------------------------------------------------------


def test_suppress_an_unknown_address_records_who_and_why(cli: Cli) -> None:
    code, out, _ = cli(
        "suppress", "New@Example.org", "--reason", "asked by phone", "--actor", "ann", "--json"
    )
    assert code == 0
    line = json.loads(out)
    assert line["changed"] is True
    assert line["status"] == "suppressed"
    assert line["previous_status"] is None
    state = _status(cli, "new@example.org")
    assert state["status"] == "suppressed"
    assert state["sendable"] is False
    assert state["reason"] == "manual"
    assert _manual_events(cli, "new@example.org") == [
        {"kind": "manual", "action": "suppress", "reason": "manual", "actor": "ann", "note": "asked by phone"}
    ]


def test_suppress_accepts_a_display_name_form(cli: Cli) -> None:
    assert cli("suppress", " Ann <Ann@Example.org> ", "--reason", "r")[0] == 0
    assert _status(cli, "ann@example.org")["status"] == "suppressed"


def test_suppress_defaults_the_actor_to_the_os_user(cli: Cli) -> None:
    assert cli("suppress", "a@example.org", "--reason", "r")[0] == 0
    assert _manual_events(cli, "a@example.org")[0]["actor"] == getpass.getuser()


def test_suppressing_a_suppressed_address_keeps_its_first_reason(cli: Cli) -> None:
    cli.commit([hard_bounce(["a@example.org"], T0)], T0)
    code, out, _ = cli("suppress", "a@example.org", "--reason", "again", "--json")
    assert code == 0
    assert json.loads(out)["changed"] is False
    assert _status(cli, "a@example.org")["reason"] == "user-unknown"
    assert _manual_events(cli, "a@example.org") == []


def test_suppress_cancels_a_pending_retry(cli: Cli) -> None:
    cli.commit([soft_bounce(["a@example.org"], T0)], T0)
    assert _status(cli, "a@example.org")["status"] == "deferred"
    assert cli("suppress", "a@example.org", "--reason", "enough")[0] == 0
    state = _status(cli, "a@example.org")
    assert state["status"] == "suppressed"
    assert state["retry_at"] is None
    rows = cli.fetch("SELECT state FROM retries WHERE address = 'a@example.org'")
    assert [row["state"] for row in rows] == ["cancelled"]


@pytest.mark.parametrize(
    "args",
    [
        ["suppress", "not-an-address", "--reason", "x"],
        ["suppress", "a@example.org"],
        ["suppress", "a@example.org", "--reason", "   "],
        ["unsuppress", "a b@example.org", "--reason", "x", "--yes"],
        ["suppress", "a@example.org\x1b[2J", "--reason", "x"],
        ["suppress", "@example.org", "--reason", "x"],
        ["suppress", "x" * 300 + "@example.org", "--reason", "x"],
        ["unsuppress", "a@example.org", "--yes"],
    ],
)
def test_hostile_or_missing_input_is_a_usage_error(cli: Cli, args: list[str]) -> None:
    code, _, err = cli(*args)
    assert code == 2
    assert err
    assert cli.fetch("SELECT count(*) AS n FROM recipients")[0]["n"] == 0


# -- unsuppress ---------------------------------------------------------------------------------


def test_unsuppress_refuses_without_yes_when_it_cannot_ask(cli: Cli) -> None:
    cli.commit([hard_bounce(["a@example.org"], T0)], T0)
    code, _, err = cli("unsuppress", "a@example.org", "--reason", "fixed")
    assert code == 2
    assert "--yes" in err
    assert _status(cli, "a@example.org")["status"] == "suppressed"


def test_unsuppress_makes_the_address_active_and_resets_the_streak(cli: Cli) -> None:
    cli.commit([soft_bounce(["a@example.org"], T0)], T0)
    cli.commit([soft_bounce(["a@example.org"], T0 + timedelta(hours=2))], T0 + timedelta(hours=2))
    cli("suppress", "a@example.org", "--reason", "hold")
    code, out, _ = cli("unsuppress", "a@example.org", "--reason", "customer fixed it", "--yes", "--json")
    assert code == 0
    assert json.loads(out)["previous_status"] == "suppressed"
    state = _status(cli, "a@example.org")
    assert (state["status"], state["sendable"], state["soft_bounce_streak"]) == ("active", True, 0)
    assert [e["action"] for e in _manual_events(cli, "a@example.org")] == ["suppress", "clear"]


def test_unsuppress_of_an_unknown_address_is_not_found(cli: Cli) -> None:
    assert cli("unsuppress", "nobody@example.org", "--reason", "x", "--yes")[0] == 3


def test_an_older_bounce_cannot_undo_an_unsuppress_but_a_newer_one_can(cli: Cli) -> None:
    cli.commit([hard_bounce(["a@example.org"], T0)], T0)
    cli("unsuppress", "a@example.org", "--reason", "mistake", "--yes")
    stale = hard_bounce(["a@example.org"], T0 + timedelta(minutes=1))  # SES time: before the override
    cli.commit([stale], datetime.now(UTC))
    assert _status(cli, "a@example.org")["status"] == "active"
    newer = hard_bounce(["a@example.org"], datetime.now(UTC) + timedelta(seconds=1))
    cli.commit([newer], datetime.now(UTC))
    assert _status(cli, "a@example.org")["status"] == "suppressed"


# -- list and export ----------------------------------------------------------------------------


def _seed_mixed(cli: Cli) -> None:
    cli.commit(
        [
            hard_bounce(["b@example.org", "a@example.org"], T0),
            soft_bounce(["c@example.org"], T0),
            delivery(["d@example.org"], T0),
        ],
        T0,
    )


def test_list_by_status_as_text_json_and_csv(cli: Cli) -> None:
    _seed_mixed(cli)
    code, out, _ = cli("list", "--status", "suppressed")
    assert code == 0
    assert [line.split("\t")[0] for line in out.splitlines()] == ["a@example.org", "b@example.org"]
    code, out, _ = cli("list", "--status", "deferred", "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(x["address"], x["status"]) for x in lines] == [("c@example.org", "deferred")]
    assert lines[0]["retry_at"] is not None
    code, out, _ = cli("list", "--status", "active", "--csv")
    table = list(csv.reader(io.StringIO(out)))
    assert table[0] == list(listing.LIST_COLUMNS)
    assert [row[0] for row in table[1:]] == ["d@example.org"]


def test_list_pages_through_everything_in_address_order(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listing, "PAGE", 2)
    addresses = [f"u{i}@example.org" for i in range(5)]
    cli.commit([hard_bounce(addresses, T0)], T0)
    _, out, _ = cli("list", "--status", "suppressed")
    assert [line.split("\t")[0] for line in out.splitlines()] == sorted(addresses)
    _, out, _ = cli("list", "--status", "suppressed", "--limit", "3")
    assert len(out.splitlines()) == 3


@pytest.mark.parametrize(
    "args", [["list"], ["list", "--status", "gone"], ["list", "--status", "active", "--limit", "0"]]
)
def test_list_usage_errors(cli: Cli, args: list[str]) -> None:
    assert cli(*args)[0] == 2


def test_export_is_csv_of_the_suppressions_only(cli: Cli) -> None:
    _seed_mixed(cli)
    code, out, _ = cli("export")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["address"] for r in rows] == ["a@example.org", "b@example.org"]
    assert rows[0]["reason"] == "user-unknown"
    assert rows[0]["bounce_type"] == "Permanent"
    assert set(rows[0]) == set(listing.EXPORT_COLUMNS)


def _seed_hostile(cli: Cli) -> None:
    """A hard bounce whose subtype is a spreadsheet formula and a soft one whose subtype drives the
    terminal: what a hostile recipient server could put in its reply."""
    formula = notification(
        Kind.BOUNCE, ["a@example.org"], T0, bounce_type="Permanent", bounce_subtype=FORMULA
    )
    controls = notification(
        Kind.BOUNCE, ["c@example.org"], T0, bounce_type="-Transient", bounce_subtype=CONTROLS
    )
    cli.commit(
        [
            applied(formula, Action.SUPPRESS, reason="@user-unknown"),
            applied(controls, Action.RETRY, reason="soft", cause=CONTROLS),
            applied(
                notification(Kind.BOUNCE, ["r@example.org"], T0, bounce_subtype=CONTROLS),
                Action.REVIEW,
                reason=CONTROLS,
            ),
        ],
        T0,
    )


FORMULA = '=HYPERLINK("http://evil.example","x")'
CONTROLS = "\x1b]0;owned\x07\x1b[2J\x9b31mGeneral\x7f\u202e"
TERMINAL_ACTS_ON = ("\x1b", "\x07", "\x9b", "\x7f", "\u202e")


@pytest.mark.parametrize(
    "args",
    [["export"], ["list", "--status", "suppressed", "--csv"], ["list", "--status", "deferred", "--csv"]],
)
def test_csv_cells_that_a_spreadsheet_would_evaluate_get_a_quote(cli: Cli, args: list[str]) -> None:
    _seed_hostile(cli)
    code, out, _ = cli(*args)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row.values()), row
    by_address = {row["address"]: row for row in rows}
    if "a@example.org" in by_address:
        assert by_address["a@example.org"]["bounce_subtype"] == f"'{FORMULA}"
        assert by_address["a@example.org"]["reason"] == "'@user-unknown"
    else:
        assert by_address["c@example.org"]["bounce_type"] == "'-Transient"


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--status", "deferred"],
        ["list", "--status", "deferred", "--json"],
        ["status", "c@example.org"],
        ["status", "r@example.org"],
        ["status", "c@example.org", "--json"],
        ["review", "list"],
        ["review", "list", "--json"],
        ["retries", "list"],
        ["retries", "list", "--json"],
    ],
)
def test_feedback_fields_cannot_drive_the_terminal(cli: Cli, args: list[str]) -> None:
    _seed_hostile(cli)
    code, out, err = cli(*args)
    assert code == 0
    assert out
    assert not any(ch in out + err for ch in TERMINAL_ACTS_ON), repr(out)
    if "--json" not in args:
        assert "\\x1b]0;owned\\x07" in out  # escaped, so the operator sees what came


# -- review -------------------------------------------------------------------------------------


def _seed_review(cli: Cli) -> None:
    n = notification(
        Kind.BOUNCE, ["r@example.org"], T0, bounce_type="Transient", bounce_subtype="ContentRejected"
    )
    cli.commit([applied(n, Action.REVIEW, reason="content-rejected")], T0)


def test_review_list_and_resolve_clear(cli: Cli) -> None:
    _seed_review(cli)
    code, out, _ = cli("review", "list", "--json")
    assert code == 0
    assert [json.loads(line)["address"] for line in out.splitlines()] == ["r@example.org"]
    code, out, _ = cli("review", "resolve", "r@example.org", "--action", "clear", "--actor", "bo", "--json")
    assert code == 0
    assert json.loads(out)["status"] == "active"
    assert _manual_events(cli, "r@example.org")[0]["note"] == "review resolved"
    assert cli("review", "list")[1] == ""


def test_review_resolve_suppress(cli: Cli) -> None:
    _seed_review(cli)
    code, _, _ = cli("review", "resolve", "R@example.org", "--action", "suppress", "--reason", "spam trap")
    assert code == 0
    assert _status(cli, "r@example.org")["status"] == Status.SUPPRESSED.value
    assert _manual_events(cli, "r@example.org")[0]["note"] == "spam trap"


def test_review_resolve_refuses_an_address_not_in_review(cli: Cli) -> None:
    cli.commit([hard_bounce(["a@example.org"], T0)], T0)
    code, _, err = cli("review", "resolve", "a@example.org", "--action", "clear")
    assert code == 1
    assert "not in review" in err
    assert _status(cli, "a@example.org")["status"] == "suppressed"
    assert cli("review", "resolve", "nobody@example.org", "--action", "clear")[0] == 3
    assert cli("review", "resolve", "a@example.org", "--action", "delete")[0] == 2
    assert cli("review", "resolve", "bad", "--action", "clear")[0] == 2


# -- status gives the send-gate's answer ---------------------------------------------------------


def test_status_json_says_sendable_as_the_send_gate_does(cli: Cli) -> None:
    cli.commit([hard_bounce(["gone@example.org"], T0), delivery(["ok@example.org"], T0)], T0)
    assert _status(cli, "gone@example.org")["sendable"] is False
    assert _status(cli, "ok@example.org")["sendable"] is True
    code, out, _ = cli("status", "nobody@example.org", "--json")
    assert (code, out) == (3, "")
