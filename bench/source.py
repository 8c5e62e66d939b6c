"""The fake SQS as a separate process (its CPU is not the consumer's), with its counters."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bench import measure


@dataclass
class LoadSource:
    """A running fake SQS: where it is and how to read its counters."""

    endpoint: str
    queue_url: str
    pid: int
    queue_name: str = "bounces"

    def stats(self) -> dict[str, Any]:
        """The queue's counters (received, deleted, first_receive_at, last_delete_at, visible, in_flight)."""
        with urllib.request.urlopen(f"{self.endpoint}/_stats", timeout=10) as reply:  # noqa: S310 (loopback)
            queue: dict[str, Any] = json.load(reply)["queues"][self.queue_name]
        return queue

    def cpu_seconds(self) -> float:
        """CPU the load source itself has used so far."""
        return measure.cpu_seconds(self.pid) or 0.0


@contextmanager
def started(messages: int, latency_ms: float, seed: int = 7) -> Iterator[LoadSource]:
    """Start `python -m bench.fake_sqs` pre-loaded with `messages` notifications; stop it afterwards."""
    command = [
        sys.executable,
        "-m",
        "bench.fake_sqs",
        "--messages",
        str(messages),
        "--latency-ms",
        str(latency_ms),
        "--seed",
        str(seed),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        fields = dict(part.split("=", 1) for part in line.split())
        if "endpoint" not in fields:
            raise RuntimeError(f"the fake SQS did not start: {line!r}")
        yield LoadSource(fields["endpoint"], fields["queue_url"], proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
