"""Run one consumer as a subprocess and measure it from outside: CPU, RSS over time, exit status.

CPU comes from the kernel's own accounting (wait4's rusage for the total, /proc/<pid>/stat for the
moment the first message was received, so start-up and imports are not charged per message). RSS is
VmRSS sampled from /proc/<pid>/status; the peak is the kernel's high-water mark (ru_maxrss).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_SECONDS = 0.02


@dataclass
class ProcessRun:
    """What one subprocess did."""

    returncode: int
    wall_s: float
    cpu_total_s: float  # user + system over the whole life of the process
    cpu_at_start_s: float  # user + system when `started()` first said yes (the first receive)
    peak_rss_kb: int  # kernel high-water mark (VmHWM / ru_maxrss)
    # (time.perf_counter(), kB): CLOCK_MONOTONIC, comparable with the load source's timestamps on Linux.
    rss_samples: list[tuple[float, int]] = field(default_factory=list)
    timed_out: bool = False


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a live process, from /proc/<pid>/stat; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # After the command name: fields[11] is utime and fields[12] stime (proc(5) fields 14 and 15).
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_kb(pid: int) -> int | None:
    """VmRSS of a live process in kB; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def run(
    command: Sequence[str],
    env: Mapping[str, str],
    log: Path,
    started: Callable[[], bool],
    timeout_s: float,
) -> ProcessRun:
    """Run `command` to its end (or kill it after `timeout_s`), sampling it every 20 ms.

    `started()` is asked on each sample until it says yes; the CPU used until then is start-up."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        spawned = time.perf_counter()
        proc = subprocess.Popen(command, env=dict(env), stdout=out, stderr=subprocess.STDOUT)
        cpu_at_start: float | None = None
        samples: list[tuple[float, int]] = []
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            now = time.perf_counter() - spawned
            if cpu_at_start is None and started():
                cpu_at_start = cpu_seconds(proc.pid)
            rss = rss_kb(proc.pid)
            if rss is not None:
                samples.append((spawned + now, rss))
            if now > timeout_s and not timed_out:
                timed_out = True
                proc.send_signal(signal.SIGTERM)
            elif now > timeout_s + 15:
                proc.kill()
            time.sleep(SAMPLE_SECONDS)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return ProcessRun(
        returncode=proc.returncode,
        wall_s=time.perf_counter() - spawned,
        cpu_total_s=usage.ru_utime + usage.ru_stime,
        cpu_at_start_s=cpu_at_start or 0.0,
        peak_rss_kb=usage.ru_maxrss,
        rss_samples=samples,
        timed_out=timed_out,
    )
