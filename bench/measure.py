"""Run one consumer as a subprocess and measure it from outside: CPU and RSS over time, exit status.

Every 20 ms the kernel's own accounting is sampled: utime + stime from /proc/<pid>/stat and VmRSS from
/proc/<pid>/status, stamped with time.perf_counter() (CLOCK_MONOTONIC, the same clock the load source
stamps its first receive and last delete with), so CPU can be charged to exactly the window in which
messages flowed: start-up, imports and shutdown are not charged per message. The peak RSS is the
kernel's high-water mark of the process's own memory (VmHWM, sampled with the rest). Not ru_maxrss
from wait4: Linux starts a forked child's ru_maxrss at its parent's RSS, so a benchmark process that
has grown (a second run holds the first run's results) would show as the consumers' peak.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
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
    peak_rss_kb: int  # the kernel's high-water mark of the process's memory (VmHWM)
    samples: list[Sample] = field(default_factory=list)
    timed_out: bool = False

    def cpu_between(self, start: float, end: float) -> float:
        """CPU seconds used between two perf_counter() instants, to the sampling's resolution."""
        before = [s.cpu_s for s in self.samples if s.at <= start]
        after = [s.cpu_s for s in self.samples if s.at >= end]
        return (after[0] if after else self.cpu_total_s) - (before[-1] if before else 0.0)

    def rss_between(self, start: float, end: float) -> list[int]:
        """VmRSS samples (kB) taken between two perf_counter() instants."""
        return [s.rss_kb for s in self.samples if start <= s.at <= end]


@dataclass(frozen=True, slots=True)
class Sample:
    """One look at the process."""

    at: float  # time.perf_counter()
    cpu_s: float
    rss_kb: int
    hwm_kb: int  # VmHWM: the peak so far


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a live process, from /proc/<pid>/stat; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # After the command name: fields[11] is utime and fields[12] stime (proc(5) fields 14 and 15).
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory_kb(pid: int) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) of a live process in kB: now and its peak so far; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    try:
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
    except (KeyError, ValueError, IndexError):
        return None  # a zombie has no memory lines


def run(
    command: Sequence[str],
    env: Mapping[str, str],
    log: Path,
    timeout_s: float,
) -> ProcessRun:
    """Run `command` to its end (SIGTERM after `timeout_s`, SIGKILL 15 s later), sampling it every 20 ms."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        spawned = time.perf_counter()
        proc = subprocess.Popen(command, env=dict(env), stdout=out, stderr=subprocess.STDOUT)
        samples: list[Sample] = []
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            at = time.perf_counter()
            now = at - spawned
            cpu, memory = cpu_seconds(proc.pid), memory_kb(proc.pid)
            if cpu is not None and memory is not None:
                samples.append(Sample(at, cpu, *memory))
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
        peak_rss_kb=max((max(s.rss_kb, s.hwm_kb) for s in samples), default=0),
        samples=samples,
        timed_out=timed_out,
    )
