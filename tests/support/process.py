"""The real `bounced` process, started and stopped from a test, its JSON logs read back."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def base_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The test process's environment without any BOUNCED_* leftovers, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOUNCED_")}
    env.update({"BOUNCED_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


class BouncedProcess:
    """`python -m bounced ARGS` in a subprocess, logging JSON to a file."""

    def __init__(self, args: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self.http_port = free_port()
        self.env = base_environment({"BOUNCED_HTTP_ADDR": f"127.0.0.1:{self.http_port}", **env})
        self.log_path = log_path
        self._log_file = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bounced", *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"

    def get(self, path: str) -> tuple[int, bytes]:
        """GET a path of the daemon's HTTP endpoint: (status, body); (0, b"") when nothing answers."""
        try:
            with urllib.request.urlopen(self.url(path), timeout=5) as response:  # noqa: S310 (loopback)
                return int(response.status), response.read()
        except urllib.error.HTTPError as error:
            return int(error.code), error.read()
        except OSError:
            return 0, b""

    def wait_for(self, path: str, status: int = 200, timeout: float = 30.0) -> bytes:
        """Poll a path until it answers `status`; fail with the log when it doesn't in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code, body = self.get(path)
            if code == status:
                return body
            if self.process.poll() is not None:
                raise AssertionError(f"bounced exited with {self.process.returncode}:\n{self.log_text()}")
            time.sleep(0.1)
        raise AssertionError(f"{path} did not answer {status} in {timeout}s:\n{self.log_text()}")

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 60.0) -> int:
        """Wait for exit; return the exit code."""
        try:
            return self.process.wait(timeout)
        finally:
            self._log_file.close()

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, then wait; kill if it hangs (and fail)."""
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"bounced did not stop in {timeout}s:\n{self.log_text()}") from None

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self._log_file.close()

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def events(self) -> list[dict[str, Any]]:
        """The JSON log lines (anything else is skipped)."""
        found = []
        for line in self.log_text().splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict):
                found.append(item)
        return found

    def event_names(self) -> list[str]:
        return [str(e.get("event")) for e in self.events()]
