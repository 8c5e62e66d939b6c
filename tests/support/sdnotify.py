"""A stand-in for systemd's notify socket: bind it, point NOTIFY_SOCKET at it, read what was sent.

For the acceptance test that runs the real daemon (`bounced run`) with NOTIFY_SOCKET and
WATCHDOG_USEC set and waits for READY=1, WATCHDOG=1 and STOPPING=1.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class NotifyListener:
    """A bound AF_UNIX datagram socket collecting notify messages."""

    def __init__(self, sock: socket.socket, path: str) -> None:
        self.sock = sock
        self.path = path  # the value for NOTIFY_SOCKET
        self.messages: list[str] = []

    def environ(self, watchdog_usec: int | None = None) -> dict[str, str]:
        """NOTIFY_SOCKET (and WATCHDOG_USEC) for a child process's environment."""
        env = {"NOTIFY_SOCKET": self.path}
        if watchdog_usec is not None:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        return env

    def wait_for(self, message: str, timeout: float) -> list[str]:
        """Collect datagrams until one has the line `message` (e.g. "READY=1"); every message so far.
        AssertionError after `timeout` seconds without it."""
        deadline = time.monotonic() + timeout
        while not any(message in m.splitlines() for m in self.messages):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {message!r} within {timeout}s; got {self.messages}"
            self.sock.settimeout(remaining)
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
        return list(self.messages)


@contextmanager
def notify_listener(directory: Path) -> Iterator[NotifyListener]:
    """A notify socket bound in `directory` (a test's tmp_path), closed afterwards."""
    path = str(directory / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(path)
        yield NotifyListener(sock, path)
    finally:
        sock.close()
