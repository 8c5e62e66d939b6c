"""The notify protocol over a real datagram socket, as systemd would receive it."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from bounced.service.sdnotify import Notifier, watchdog_loop
from tests.support.sdnotify import NotifyListener, notify_listener


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[NotifyListener]:
    with notify_listener(tmp_path) as notify:
        yield notify


def received(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def test_messages_reach_the_socket(listener: NotifyListener, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", listener.path)
    notifier = Notifier.from_env()
    notifier.ready()
    notifier.status("polling 3 queues\nsecond line")
    notifier.watchdog()
    notifier.stopping()
    notifier.close()
    assert listener.wait_for("STOPPING=1", timeout=2) == [
        "READY=1",
        "STATUS=polling 3 queues second line",
        "WATCHDOG=1",
        "STOPPING=1",
    ]
    assert notifier.errors == 0


def test_abstract_socket_names() -> None:
    name = f"bounced-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2)
    try:
        notifier = Notifier.from_env({"NOTIFY_SOCKET": "@" + name})
        notifier.ready()
        notifier.close()
        assert received(sock) == "READY=1"
    finally:
        sock.close()


def test_no_socket_means_no_op() -> None:
    notifier = Notifier.from_env({})
    assert not notifier.enabled
    notifier.ready()
    notifier.watchdog()
    assert notifier.errors == 0
    assert notifier.watchdog_interval() is None


def test_missing_socket_is_logged_and_counted_not_raised(tmp_path: Path) -> None:
    hooked: list[int] = []
    notifier = Notifier.from_env(
        {"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}, on_error=lambda: hooked.append(1)
    )
    notifier.ready()
    notifier.watchdog()
    notifier.close()
    assert notifier.errors == 2
    assert hooked == [1, 1]


def test_full_buffer_does_not_block(tmp_path: Path) -> None:
    path = str(tmp_path / "slow.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    try:
        notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
        for _ in range(5000):  # nobody reads: the queue fills, sends fail fast
            notifier.watchdog()
        notifier.close()
        assert notifier.errors > 0
    finally:
        sock.close()


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    env = {"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "30000000"}
    assert Notifier.from_env(env).watchdog_interval() == 15.0


def test_watchdog_for_this_pid_only() -> None:
    mine = {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
    other = {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert Notifier.from_env(mine).watchdog_interval() == 15.0
    assert Notifier.from_env(other).watchdog_interval() is None


@pytest.mark.parametrize("usec", ["", "0", "-5", "soon"])
def test_unusable_watchdog_usec_means_no_watchdog(usec: str) -> None:
    assert Notifier.from_env({"WATCHDOG_USEC": usec}).watchdog_interval() is None


class StopLoop(Exception):
    pass


class CountingClock:
    """Records sleeps; ends the loop after `limit` of them."""

    def __init__(self, limit: int) -> None:
        self.sleeps: list[float] = []
        self.limit = limit

    def now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if len(self.sleeps) >= self.limit:
            raise StopLoop


async def test_watchdog_loop_pings_at_half_the_interval(listener: NotifyListener) -> None:
    notifier = Notifier.from_env(listener.environ(watchdog_usec=30_000_000))
    clock = CountingClock(limit=3)
    with pytest.raises(StopLoop):
        await watchdog_loop(notifier, clock)
    notifier.close()
    assert clock.sleeps == [15.0, 15.0, 15.0]
    listener.sock.settimeout(2)
    assert [received(listener.sock) for _ in range(3)] == ["WATCHDOG=1"] * 3


async def test_watchdog_loop_withholds_pings_while_unhealthy(listener: NotifyListener) -> None:
    sock = listener.sock
    notifier = Notifier.from_env(listener.environ(watchdog_usec=2_000_000))
    verdicts = iter([True, False, True])
    with pytest.raises(StopLoop):
        await watchdog_loop(notifier, CountingClock(limit=3), healthy=lambda: next(verdicts))
    notifier.close()
    sock.settimeout(2)
    assert [received(sock) for _ in range(2)] == ["WATCHDOG=1"] * 2
    sock.settimeout(0.05)
    with pytest.raises(TimeoutError):
        sock.recv(4096)


async def test_watchdog_loop_returns_without_a_watchdog() -> None:
    clock = CountingClock(limit=1)
    await watchdog_loop(Notifier.from_env({}), clock)
    assert clock.sleeps == []


def test_repeated_failures_are_logged_sparingly(tmp_path: Path) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    with capture_logs() as logs:
        for _ in range(250):
            notifier.watchdog()
    notifier.close()
    assert notifier.errors == 250
    assert [entry["errors"] for entry in logs if entry["event"] == "sdnotify_failed"] == [1, 100, 200]
