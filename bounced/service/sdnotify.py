"""The systemd notify protocol: datagrams to `$NOTIFY_SOCKET` (READY=1, WATCHDOG=1, STATUS=, STOPPING=1).

Without `NOTIFY_SOCKET` (not under systemd, or `Type=simple`) every call is a no-op. Sends never block
(a full socket buffer drops the datagram) and never raise into the daemon: a failure is counted in
`errors`, logged (the first and every 100th), and reported to the optional `on_error` hook (e.g.
`metrics.error("sdnotify")`).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping

import structlog

from bounced.core.clock import Clock

log = structlog.get_logger(__name__)


class Notifier:
    """Sends notify messages to one socket address (a path, or `@name` for the abstract namespace)."""

    def __init__(
        self,
        address: str | None,
        *,
        watchdog_usec: int | None = None,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        self.address = address
        self._watchdog_usec = watchdog_usec
        self._on_error = on_error
        self._sock: socket.socket | None = None
        self.errors = 0

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, on_error: Callable[[], None] | None = None
    ) -> Notifier:
        """From NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (the watchdog only applies when
        WATCHDOG_PID is unset or names this process, as sd_watchdog_enabled() decides)."""
        env = os.environ if environ is None else environ
        return cls(env.get("NOTIFY_SOCKET") or None, watchdog_usec=_watchdog_usec(env), on_error=on_error)

    @property
    def enabled(self) -> bool:
        """Whether messages go anywhere."""
        return self.address is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings (half of WatchdogSec), or None when no watchdog is set."""
        if self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 2 / 1_000_000

    def ready(self) -> None:
        """Startup finished: systemd marks the unit active."""
        self.send("READY=1")

    def status(self, text: str) -> None:
        """A one-line status for `systemctl status`."""
        self.send("STATUS=" + " ".join(text.splitlines()))

    def watchdog(self) -> None:
        """Still alive (send every `watchdog_interval()` seconds from the event loop)."""
        self.send("WATCHDOG=1")

    def stopping(self) -> None:
        """Shutdown began."""
        self.send("STOPPING=1")

    def send(self, message: str) -> None:
        """Send one raw notify datagram (newline-separated KEY=VALUE lines); never raises."""
        if self.address is None:
            return
        try:
            self._socket().sendto(message.encode(), _socket_address(self.address))
        except OSError as exc:
            self.errors += 1
            # A gone or full socket fails every send (the watchdog pings every few seconds): log the
            # first failure and then every 100th, so the journal is not flooded.
            if self.errors == 1 or self.errors % 100 == 0:
                log.warning(
                    "sdnotify_failed",
                    error=type(exc).__name__,
                    errno=exc.errno,
                    message=message[:40],
                    errors=self.errors,
                )
            if self._on_error is not None:
                self._on_error()

    def close(self) -> None:
        """Close the socket (the next send opens a new one)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _socket(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.settimeout(0.0)  # non-blocking: a full receiver buffer fails the send at once
            self._sock = sock
        return self._sock


def _socket_address(address: str) -> str | bytes:
    # `@name` is Linux's abstract namespace: a leading NUL byte instead of a path.
    if address.startswith("@"):
        return b"\0" + address[1:].encode()
    return address


def _watchdog_usec(env: Mapping[str, str]) -> int | None:
    pid = env.get("WATCHDOG_PID")
    if pid and pid.strip() != str(os.getpid()):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec if usec > 0 else None


async def watchdog_loop(notifier: Notifier, clock: Clock, healthy: Callable[[], bool] | None = None) -> None:
    """Send WATCHDOG=1 every `watchdog_interval()` seconds, forever (run it as a task; cancel to stop).

    With `healthy` (e.g. `lambda: heartbeats.report(clock.now()).healthy`) the ping is skipped while
    the daemon is unhealthy, so systemd's watchdog restarts a process whose pollers are stuck even
    though its event loop still turns. Returns at once when no watchdog is configured.
    """
    interval = notifier.watchdog_interval()
    if interval is None:
        return
    while True:
        if healthy is None or healthy():
            notifier.watchdog()
        else:
            log.warning("watchdog_ping_withheld", reason="unhealthy")
        await clock.sleep(interval)
