"""A flood of slow HTTP clients under systemd's default open-file limit (1,024): more connections than
the cap, each sending half a request head and holding it. The SQS pollers, whose connections are cut
meanwhile, still get file descriptors to reconnect, so feedback published during the flood is applied,
and the log stays small."""

from __future__ import annotations

import asyncio
import os
import resource
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bounced.ingest.provision import FeedbackWiring
from bounced.service.http import DEFAULT_MAX_CONNECTIONS, HEADER_TIMEOUT
from bounced.service.logs import LIMIT_INTERVAL
from tests.faults.harness import assert_applied_once, assert_no_crash, daemon_env, mix, send, settle
from tests.support.feedback import Aws
from tests.support.process import BouncedProcess
from tests.support.tcp_proxy import PausableProxy

pytestmark = pytest.mark.faults

FILE_LIMIT = 1024  # systemd's default soft limit
CLIENTS = 1100  # as many as filled that limit before the cap
PARTIAL_HEAD = b"GET /v1/recipients/flood@example.org HTTP/1.1\r\nHost: x\r\nX-Slow: "
LOG_BUDGET = 100_000  # bytes; without the limiter one minute of this wrote 262 MB


@dataclass
class SlowClients:
    """`count` clients in a thread of their own, each opening a connection to 127.0.0.1:`port`,
    sending half a request head and holding it; when the server closes it they wait `pause` and open
    another. Samples the daemon's open file descriptors meanwhile. Stops when asked or at `deadline`."""

    port: int
    pid: int
    count: int
    deadline: float
    pause: float = 0.5
    opened: int = 0
    cut_off: int = 0  # closed by the server
    fd_peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="slow-clients")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _stopped(self) -> bool:
        return self._stop.is_set() or time.monotonic() > self.deadline

    async def _run(self) -> None:
        await asyncio.gather(self._sample_fds(), *(self._client() for _ in range(self.count)))

    async def _sample_fds(self) -> None:
        while not self._stopped():
            try:
                self.fd_peak = max(self.fd_peak, len(os.listdir(f"/proc/{self.pid}/fd")))
            except FileNotFoundError:
                return
            await asyncio.sleep(0.05)

    async def _client(self) -> None:
        while not self._stopped():
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(self.pause)
                continue
            self.opened += 1
            try:
                writer.write(PARTIAL_HEAD)
                await self._hold(reader)
            except OSError:
                pass
            finally:
                writer.close()
            await asyncio.sleep(self.pause)

    async def _hold(self, reader: asyncio.StreamReader) -> None:
        while not self._stopped():
            try:
                async with asyncio.timeout(0.5):
                    await reader.read()
            except TimeoutError:
                continue
            self.cut_off += 1
            return


def limit_open_files(pid: int, limit: int) -> None:
    """What `LimitNOFILE=` does, applied from outside right after the start (a preexec_fn is unsafe in
    this process, whose moto server runs in threads)."""
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, limit))
    limits = Path(f"/proc/{pid}/limits").read_text()
    assert any(line.startswith("Max open files") and f" {limit} " in line for line in limits.splitlines())


def raise_own_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


async def test_slow_http_clients_do_not_starve_the_pollers(
    aws: Aws, wiring: FeedbackWiring, migrated: str, moto_proxy: PausableProxy, tmp_path: Path
) -> None:
    raise_own_file_limit(CLIENTS + 1000)
    items = mix(40, "flood")
    env = daemon_env(migrated, moto_proxy.url, wiring, tmp_path)
    daemon = BouncedProcess(["run"], env, tmp_path / "b.log")
    flood = SlowClients(daemon.http_port, daemon.process.pid, CLIENTS, deadline=time.monotonic() + 120)
    try:
        limit_open_files(daemon.process.pid, FILE_LIMIT)
        daemon.wait_for("/readyz")
        flood.start()
        await asyncio.sleep(1.5)  # let the clients open their connections
        # Cut the pollers' kept-alive SQS connections: they need new descriptors now.
        moto_proxy.pause()
        moto_proxy.resume()
        began = time.monotonic()
        await send(aws, wiring, items)
        await settle(migrated, aws, wiring, events=len(items), within=90)
        # Stay under pressure past a header timeout (held connections are cut off and replaced) and a
        # log-limit interval (refusals are counted as suppressed).
        await asyncio.sleep(max(0.0, max(HEADER_TIMEOUT, LIMIT_INTERVAL) + 1 - (time.monotonic() - began)))
        flood.stop()
        daemon.wait_for("/healthz")  # answers again once the clients are gone
    finally:
        flood.stop()
        code = daemon.stop(timeout=30)
    assert code == 0
    assert flood.opened > CLIENTS  # every client connected, some more than once
    assert flood.cut_off > CLIENTS - DEFAULT_MAX_CONNECTIONS  # refused ones and timed-out ones
    assert flood.fd_peak < FILE_LIMIT - 100, flood.fd_peak
    await assert_applied_once(migrated, items)
    assert_no_crash(daemon)
    log = daemon.log_path.read_bytes()
    assert len(log) < LOG_BUDGET, len(log)
    assert b"flood@" not in log
    assert b"Too many open files" not in log
    refused = [e for e in daemon.events() if e.get("event") == "http_connection_refused"]
    assert any(e.get("suppressed", 0) > 0 for e in refused), refused  # counted, not written
