"""The systemd units: hardened (exposure 2.0 or lower), clean under `systemd-analyze verify`, and
consistent with the daemon (notify, watchdog, stop timeout, settings, subcommands)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from configparser import ConfigParser
from pathlib import Path

import pytest

from tests.support import testenv
from tests.unit.deploy_support import ACCEPTED_SETTINGS, assert_commands_exist

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
SERVICES = ("bounced.service", "bounced-drain.service")
INSTALLED_BINARY = "/usr/local/bin/bounced"
SHUTDOWN_GRACE = 25  # BOUNCED_SHUTDOWN_GRACE default
LONG_POLL_WAIT = 20  # BOUNCED_WAIT_TIME_SECONDS default


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        if testenv.REQUIRE_SYSTEMD_ANALYZE:
            pytest.fail("systemd-analyze is required here (.ci/run installs it) but missing")
        pytest.skip("systemd-analyze is not installed")
    return found


def unit(name: str) -> ConfigParser:
    # systemd allows repeated keys (SystemCallFilter=...); keep the last one, enough for these checks.
    parser = ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNITS / name)
    return parser


@pytest.mark.parametrize("name", SERVICES)
def test_exposure_is_2_or_lower(name: str) -> None:
    result = subprocess.run(
        [systemd_analyze(), "security", "--offline=yes", "--no-pager", str(UNITS / name)],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.0


def test_units_verify_clean(tmp_path: Path) -> None:
    # verify insists that ExecStart's binary exists; check copies pointing at this environment's
    # `bounced` (same script the package installs), everything else unchanged.
    binary = Path(sys.executable).parent / "bounced"
    assert binary.exists(), "the bounced console script is not installed in this environment"
    for path in UNITS.glob("bounced*.*"):
        if path.suffix in (".service", ".timer"):
            text = path.read_text().replace(f"ExecStart={INSTALLED_BINARY} ", f"ExecStart={binary} ")
            (tmp_path / path.name).write_text(text)
    copies = sorted(str(p) for p in tmp_path.iterdir())
    assert len(copies) == 3
    result = subprocess.run(
        [systemd_analyze(), "verify", *copies], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_daemon_unit_speaks_notify_with_a_watchdog() -> None:
    service = unit("bounced.service")["Service"]
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert service["WatchdogSec"] == "30"
    assert service["Restart"] == "on-failure"
    assert service["EnvironmentFile"] == "/etc/bounced/bounced.env"
    assert service["ExecStart"] == f"{INSTALLED_BINARY} run"


@pytest.mark.parametrize("name", SERVICES)
def test_stop_timeout_covers_grace_and_long_poll(name: str) -> None:
    assert int(unit(name)["Service"]["TimeoutStopSec"]) > SHUTDOWN_GRACE + LONG_POLL_WAIT


def test_drain_unit_runs_once_on_a_timer() -> None:
    service = unit("bounced-drain.service")["Service"]
    assert service["Type"] == "oneshot"
    assert service["ExecStart"] == f"{INSTALLED_BINARY} run --once"
    timer = unit("bounced-drain.timer")["Timer"]
    assert timer["Unit"] == "bounced-drain.service"


def test_daemon_unit_lifts_the_open_file_limit() -> None:
    # Under systemd's default soft limit (1,024) a flood of HTTP connections once left the SQS
    # pollers without file descriptors. One number sets soft and hard limit alike.
    limit = unit("bounced.service")["Service"]["LimitNOFILE"]
    assert limit.isdigit(), limit
    assert int(limit) >= 8192


def test_units_use_existing_subcommands() -> None:
    argvs = [shlex.split(unit(name)["Service"]["ExecStart"])[1:] for name in SERVICES]
    assert_commands_exist(argvs)


def test_example_environment_uses_only_accepted_settings() -> None:
    text = (UNITS / "bounced.env.example").read_text()
    names = set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    assert names, "no settings found"
    assert names <= ACCEPTED_SETTINGS
    bounced = {n for n in ACCEPTED_SETTINGS if n.startswith("BOUNCED_")}
    assert bounced <= names, f"undocumented in the example: {sorted(bounced - names)}"
