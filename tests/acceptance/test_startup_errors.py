"""Configuration errors stop `bounced run` at start: exit 2, one line on stderr naming the setting, no
traceback, no secret. (Lines that are JSON are the daemon's own log events before the check.)"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import pytest

from bounced.ingest.provision import FeedbackWiring
from tests.acceptance.test_run_process import daemon_env
from tests.support.aws import FAKE_CREDENTIALS
from tests.support.process import BouncedProcess, base_environment, free_port

pytestmark = pytest.mark.acceptance

QUEUE = "http://127.0.0.1:1/123456789012/bounces"  # never reached: the error comes first
NO_DATABASE = "postgresql://postgres@127.0.0.1:1/none"  # never reached: the queues are checked first
MINIMAL = {**FAKE_CREDENTIALS, "BOUNCED_BOUNCE_QUEUE_URL": QUEUE}


def run(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bounced", *(args or ("run",))],
        env=base_environment({"BOUNCED_HTTP_ADDR": f"127.0.0.1:{free_port()}", **env}),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def the_one_line(done: subprocess.CompletedProcess[str]) -> str:
    """Exit 2 and exactly one line on stderr that is not a JSON log event: return it."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if not line.startswith("{")]
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize("token", ["", "   "])
def test_a_blank_api_token_is_refused(token: str) -> None:
    line = the_one_line(run({**MINIMAL, "BOUNCED_API_TOKEN": token}))
    assert line.startswith("bounced: BOUNCED_API_TOKEN: is blank")


def test_a_retry_window_longer_than_a_year_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "bounced.toml"
    config.write_text('[retry.windows]\nMailboxFull = ["1d", "400d"]\n', encoding="utf-8")
    line = the_one_line(run({**MINIMAL, "BOUNCED_CONFIG": str(config)}))
    assert line == 'bounced: retry.windows.MailboxFull[1]: "400d" is longer than a year (365d)'


@pytest.mark.parametrize("address", ["999.1.1.1:8080", "127.0.0.1:65536", "garbage", "::1:8080"])
def test_a_listen_address_that_cannot_be_parsed_is_refused(address: str) -> None:
    line = the_one_line(run({**MINIMAL, "BOUNCED_HTTP_ADDR": address}))
    assert line.startswith("bounced: BOUNCED_HTTP_ADDR: must be HOST:PORT")


def test_a_listen_address_that_is_not_ours_is_refused() -> None:
    # 192.0.2.0/24 is TEST-NET-1: well formed, assigned to no interface here.
    line = the_one_line(run({**MINIMAL, "BOUNCED_HTTP_ADDR": "192.0.2.1:8080"}))
    assert line.startswith("bounced: BOUNCED_HTTP_ADDR: cannot listen on 192.0.2.1:8080: ")


def test_a_listen_port_in_use_is_refused() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = the_one_line(run({**MINIMAL, "BOUNCED_HTTP_ADDR": f"127.0.0.1:{port}"}))
    assert line.startswith(f"bounced: BOUNCED_HTTP_ADDR: cannot listen on 127.0.0.1:{port}: ")


def test_a_malformed_dsn_is_refused_without_its_password() -> None:
    dsn = "postgresql://bounced:hunter/2@127.0.0.1:5432/bounced"  # '/' must be percent-encoded
    done = run({**MINIMAL, "BOUNCED_DATABASE_URL": dsn})
    line = the_one_line(done)
    assert line.startswith("bounced: BOUNCED_DATABASE_URL: must be a postgresql:// DSN")
    assert "hunter" not in done.stderr


async def test_a_dsn_postgres_cannot_use_is_refused_at_connect(
    wiring: FeedbackWiring, aws_env: str, tmp_path: Path
) -> None:
    dsn = "postgresql://bounced:hunter2@127.0.0.1:5432/bounced?sslmode=sometimes"
    done = run(daemon_env(dsn, aws_env, wiring, tmp_path))
    line = the_one_line(done)
    assert line.startswith("bounced: BOUNCED_DATABASE_URL: not a usable PostgreSQL DSN (")
    assert "sslmode" in line
    assert "hunter2" not in done.stderr


@pytest.mark.parametrize("setting", ["BOUNCED_RETRY_QUEUE_URL", "BOUNCED_BOUNCE_QUEUE_URL"])
async def test_a_configured_queue_that_does_not_exist_is_refused(
    setting: str, wiring: FeedbackWiring, aws_env: str, tmp_path: Path
) -> None:
    missing = wiring.queues["bounce"].rsplit("/", 1)[0] + "/no-such-queue"
    done = run(daemon_env(NO_DATABASE, aws_env, wiring, tmp_path, **{setting: missing}))
    line = the_one_line(done)
    assert line.startswith(f"bounced: {setting}: no such queue (")


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="this machine has no IPv6 loopback to bind")
async def test_an_ipv6_loopback_listen_address_is_accepted_and_answers(
    wiring: FeedbackWiring, migrated: str, aws_env: str, tmp_path: Path
) -> None:
    port = free_port()
    env = daemon_env(migrated, aws_env, wiring, tmp_path, BOUNCED_HTTP_ADDR=f"[::1]:{port}")
    daemon = BouncedProcess(["run"], env, tmp_path / "v6.log")
    try:
        status = 0
        for _ in range(300):
            status = await asyncio.to_thread(_status, f"http://[::1]:{port}/readyz")
            if status == 200:
                break
            assert daemon.process.poll() is None, daemon.log_text()
            await asyncio.sleep(0.1)
        assert status == 200, daemon.log_text()
        checked = run({"BOUNCED_HTTP_ADDR": f"[::1]:{port}"}, "check", "--ready")
        assert checked.returncode == 0, checked.stderr
    finally:
        assert daemon.stop(timeout=30) == 0


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 -- loopback
            return int(response.status)
    except OSError:
        return 0
