"""Runs each contender as a subprocess against a fresh load source and a fresh database, and measures.

Throughput is the load source's own window, from the first message it handed out to the last delete
(so process start-up and the final empty long poll are not counted). CPU per notification is the
consumer's user + system time in that same window, divided by the messages it deleted. Every ratio
compares numbers from the same run on the same machine.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

from bench import database, measure, source
from bench.contenders import Contender

log = logging.getLogger("bench")

# Rough ceiling of one Python consumer process, only used to size runs to a target length.
SIZING_CEILING_PER_S = 4000.0


@dataclass(frozen=True)
class Plan:
    """What to sweep and how big each run is."""

    pollers: tuple[int, ...] = (1, 4, 16, 64)
    latencies_ms: tuple[float, ...] = (0.0, 15.0)
    seconds: float = 4.0  # target length of one measured run
    min_messages: int = 1000
    max_messages: int = 20000
    classic_min_messages: int = 60
    backlog: int = 50000
    backlog_pollers: int = 16
    backlog_latency_ms: float = 15.0
    store_rows: int = 10000
    store_batch: int = 1000
    headline_latency_ms: float = 15.0
    headline_pollers: int = 16


QUICK = Plan(
    pollers=(1, 16),
    seconds=1.0,
    min_messages=200,
    max_messages=3000,
    classic_min_messages=20,
    backlog=5000,
    store_rows=2000,
    store_batch=500,
)


@dataclass
class Point:
    """One measured run."""

    contender: str
    latency_ms: float
    pollers: int
    messages: int
    deleted: int
    per_s: float
    cpu_ms_per_msg: float
    peak_rss_mb: float
    rss_first_mb: float
    rss_last_mb: float
    source_cpu_ms_per_msg: float
    wall_s: float
    ok: bool
    note: str = ""


def messages_for(plan: Plan, contender: Contender, pollers: int, latency_ms: float) -> int:
    """A message count that makes the run last about `plan.seconds`."""
    round_trip = 2 * latency_ms / 1000 + 0.002
    if contender.sweeps_pollers:
        rate = min(pollers * 10 / round_trip, SIZING_CEILING_PER_S)
        return int(min(max(rate * plan.seconds, plan.min_messages), plan.max_messages))
    rate = pollers / (round_trip + 0.002)
    return int(max(rate * plan.seconds, plan.classic_min_messages))


def run_point(
    contender: Contender, admin_dsn: str, logs: Path, *, pollers: int, latency_ms: float, messages: int
) -> Point:
    """Measure `contender` draining `messages` notifications with `pollers` pollers at `latency_ms`."""
    tag = f"{contender.name}-p{pollers}-l{latency_ms:g}-n{messages}"
    log.info("run %s", tag)
    with source.started(messages, latency_ms) as src:
        dsn = database.fresh(admin_dsn) if contender.needs_database else None
        try:
            env = contender.env(src, dsn, pollers)
            contender.prepare(dsn, env)
            source_cpu_before = src.cpu_seconds()
            timeout = 120 + messages / 20
            result = measure.run(
                contender.command(src, dsn, pollers),
                env,
                logs / f"{tag}.log",
                timeout,
            )
            stats = src.stats()
            source_cpu = src.cpu_seconds() - source_cpu_before
        finally:
            if dsn is not None:
                database.drop(admin_dsn, dsn)
    return _point(
        contender.name,
        result,
        stats,
        pollers=pollers,
        latency_ms=latency_ms,
        messages=messages,
        source_cpu=source_cpu,
    )


def _point(
    name: str,
    result: measure.ProcessRun,
    stats: dict[str, float],
    *,
    pollers: int,
    latency_ms: float,
    messages: int,
    source_cpu: float,
) -> Point:
    deleted = int(stats["deleted"])
    first, last = stats["first_receive_at"], stats["last_delete_at"]
    window = (last - first) if first is not None and last is not None else math.nan
    per_msg = max(deleted, 1)
    flowed = first is not None and last is not None
    inside = result.rss_between(first, last) if flowed else []
    cpu = result.cpu_between(first, last) if flowed else math.nan
    ok = deleted == messages and result.returncode == 0 and not result.timed_out
    note = (
        ""
        if ok
        else f"exit={result.returncode} deleted={deleted}/{messages}"
        + (" timed out" if result.timed_out else "")
    )
    return Point(
        contender=name,
        latency_ms=latency_ms,
        pollers=pollers,
        messages=messages,
        deleted=deleted,
        per_s=deleted / window if window and window > 0 else math.nan,
        cpu_ms_per_msg=cpu * 1000 / per_msg,
        peak_rss_mb=result.peak_rss_kb / 1024,
        rss_first_mb=(inside[0] if inside else math.nan) / 1024,
        rss_last_mb=(inside[-1] if inside else math.nan) / 1024,
        source_cpu_ms_per_msg=source_cpu * 1000 / per_msg,
        wall_s=result.wall_s,
        ok=ok,
        note=note,
    )


def sweep(plan: Plan, contenders: list[Contender], admin_dsn: str, logs: Path) -> list[Point]:
    """Every contender at every latency and pollers count of the plan (one loop for the classic)."""
    points = []
    for latency in plan.latencies_ms:
        for contender in contenders:
            for pollers in plan.pollers if contender.sweeps_pollers else (1,):
                count = messages_for(plan, contender, pollers, latency)
                points.append(
                    run_point(contender, admin_dsn, logs, pollers=pollers, latency_ms=latency, messages=count)
                )
    return points


def backlog(plan: Plan, contenders: list[Contender], admin_dsn: str, logs: Path) -> list[Point]:
    """Each pollers-sweeping contender draining the big backlog: memory must stay flat."""
    return [
        run_point(
            c,
            admin_dsn,
            logs,
            pollers=plan.backlog_pollers,
            latency_ms=plan.backlog_latency_ms,
            messages=plan.backlog,
        )
        for c in contenders
        if c.sweeps_pollers
    ]
