"""`bounced demo` as a newcomer runs it: the real command in a subprocess, twice, then with --serve."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from tests.support.process import base_environment, free_port

pytestmark = pytest.mark.acceptance

DEMO_TIMEOUT = 90


def _demo(args: list[str], dsn: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bounced", "demo", "--http-addr", f"127.0.0.1:{free_port()}", *args],
        env=base_environment({"BOUNCED_DATABASE_URL": dsn}),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT,
        check=False,
    )


def _row(summary: str, address: str) -> list[str]:
    line = next(line for line in summary.splitlines() if line.startswith(address + " "))
    return line.split()


async def _demo_databases(admin_dsn: str) -> list[str]:
    conn = await asyncpg.connect(admin_dsn)
    try:
        rows = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'bounced_demo_%'")
        return [row["datname"] for row in rows]
    finally:
        await conn.close()


def _check_summary(summary: str) -> None:
    assert _row(summary, "ada@example.org")[1:4] == ["suppressed", "no", "user-unknown"]
    assert _row(summary, "kai@example.org")[1:4] == ["suppressed", "no", "complaint"]
    assert _row(summary, "emil@example.org")[1] == "deferred"
    assert re.search(r"\d\d:\d\d:\d\d UTC \(in \d+ min\)", " ".join(_row(summary, "emil@example.org")))
    assert _row(summary, "gus@example.org")[1] == "review"
    assert _row(summary, "pia@example.org")[1:3] == ["active", "yes"]
    # The older transient bounce arrived after a newer delivery: the address stays mailable.
    assert _row(summary, "uma@example.org")[1:3] == ["active", "yes"]
    assert _row(summary, "lea@example.org")[1:3] == ["(none)", "yes"]
    assert "Review queue (4)" in summary
    assert "Quarantine (1)" in summary
    assert "invalid_json" in summary
    assert re.search(r"Metrics: +http://127\.0\.0\.1:\d+/metrics", summary)


def test_demo_runs_to_a_summary_and_runs_again(pg_admin_dsn: str, tmp_path: Path) -> None:
    for _ in range(2):
        started = time.monotonic()
        result = _demo([], pg_admin_dsn, tmp_path)
        assert result.returncode == 0, result.stderr
        assert time.monotonic() - started < 60
        _check_summary(result.stdout)
        assert "processed 22/22 messages" in result.stderr
        assert "signature_verification_off" in result.stderr
    # Nothing left behind on the given server.
    assert asyncio.run(_demo_databases(pg_admin_dsn)) == []


def test_demo_without_a_server_embeds_one_in_dot_demo() -> None:
    # Its own temporary folder, not tmp_path: concurrent pytest sessions on one machine prune one
    # another's old basetemp folders, and a PostgreSQL data folder must outlive the test.
    folder = Path(tempfile.mkdtemp(prefix="bounced-demo-test-"))
    try:
        for _ in range(2):  # the second run reuses the data folder
            result = subprocess.run(
                [sys.executable, "-m", "bounced", "demo", "--http-addr", f"127.0.0.1:{free_port()}"],
                env=base_environment({}),
                cwd=folder,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=DEMO_TIMEOUT,
                check=False,
            )
            assert result.returncode == 0, result.stderr
            _check_summary(result.stdout)
        assert (folder / ".demo" / "pg" / "PG_VERSION").is_file()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_demo_fails_plainly_when_the_daemon_cannot_start(pg_admin_dsn: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _demo(["--http-addr", f"127.0.0.1:{port}"], pg_admin_dsn, tmp_path)
    assert result.returncode == 1
    assert "demo failed: the daemon stopped early" in result.stderr
    assert "Traceback" not in result.stderr
    assert asyncio.run(_demo_databases(pg_admin_dsn)) == []


def test_demo_rejects_a_bad_listen_address(pg_admin_dsn: str, tmp_path: Path) -> None:
    result = _demo(["--http-addr", "nowhere"], pg_admin_dsn, tmp_path)
    assert result.returncode == 2
    assert "BOUNCED_HTTP_ADDR" in result.stderr


def _read_until(process: subprocess.Popen[str], marker: str, deadline: float) -> str:
    assert process.stdout is not None
    seen = ""
    while marker not in seen:
        if time.monotonic() > deadline or process.poll() is not None:
            raise AssertionError(f"no {marker!r} in the demo's output:\n{seen}")
        seen += process.stdout.readline()
    return seen


def _with_a_password(dsn: str) -> tuple[str, str]:
    """`dsn` and its password; one is added when it has none (the test server trusts loopback and
    ignores it), so the test can tell whether the demo ever shows it."""
    parts = urlsplit(dsn)
    if parts.password:
        return dsn, parts.password
    password = "demo-password-never-shown"
    user = parts.username or "postgres"
    netloc = f"{user}:{password}@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc)), password


def test_demo_serve_keeps_the_daemon_and_database_up_until_ctrl_c(pg_admin_dsn: str, tmp_path: Path) -> None:
    dsn, password = _with_a_password(pg_admin_dsn)
    with (
        (tmp_path / "stderr").open("w+") as stderr,
        subprocess.Popen(
            [sys.executable, "-m", "bounced", "demo", "--serve", "--http-addr", f"127.0.0.1:{free_port()}"],
            env=base_environment({"BOUNCED_DATABASE_URL": dsn}),
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        ) as process,
    ):
        try:
            output = _use_the_running_demo(process, password)
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=30) == 0
            output += process.stdout.read() if process.stdout else ""
        finally:
            if process.poll() is None:
                process.kill()
        stderr.seek(0)
        errors = stderr.read()
    assert "bounced demo: PostgreSQL: a new database on" in errors
    assert password not in output + errors
    assert asyncio.run(_demo_databases(pg_admin_dsn)) == []


def _use_the_running_demo(process: subprocess.Popen[str], password: str) -> str:
    """/metrics answers, and the CLI works against the demo database with the printed exports."""
    output = _read_until(process, "Ctrl-C", time.monotonic() + DEMO_TIMEOUT)
    metrics = re.search(r"Metrics: +(http://127\.0\.0\.1:\d+/metrics)", output)
    assert metrics is not None
    with urllib.request.urlopen(metrics.group(1), timeout=5) as response:  # noqa: S310 (loopback)
        assert b"bounced_" in response.read()
    # The daemon's send-gate answers from the store.
    gate = metrics.group(1).replace("/metrics", "/v1/recipients/ada@example.org")
    with urllib.request.urlopen(gate, timeout=5) as response:  # noqa: S310 (loopback)
        answer = json.loads(response.read())
    assert (answer["sendable"], answer["status"], answer["reason"]) == (False, "suppressed", "user-unknown")
    output += _read_until(process, "bounced status", time.monotonic() + 10)
    exports = dict(re.findall(r"export (\w+)='([^']*)'", output))
    status = subprocess.run(
        [sys.executable, "-m", "bounced", "status", "ada@example.org", "--json"],
        env=base_environment({**exports, "PGPASSWORD": password}),  # as the printed hint says
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["status"] == "suppressed"
    return output
