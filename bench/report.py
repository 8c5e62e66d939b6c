"""The table and the summary lines (one per target, numbers plain, in the issue's exact form)."""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.harness import Plan, Point

NAN = math.nan


@dataclass(frozen=True)
class StoreResult:
    """The store-alone measure: rows per second each way; NaN for a side that could not run."""

    rows: int
    batch: int
    bounced_per_s: float
    copy_per_s: float


def table(points: Iterable[Point]) -> list[str]:
    """One line per run."""
    head = (
        f"{'contender':<10} {'lat_ms':>6} {'pollers':>7} {'msgs':>6} {'per_s':>8} {'cpu_ms/msg':>10} "
        f"{'peak_mb':>7} {'rss_first':>9} {'rss_last':>8} {'src_cpu':>7} {'wall_s':>6}  note"
    )
    lines = [head, "-" * len(head)]
    lines.extend(
        f"{p.contender:<10} {p.latency_ms:>6g} {p.pollers:>7} {p.deleted:>6} {p.per_s:>8.0f} "
        f"{p.cpu_ms_per_msg:>10.3f} {p.peak_rss_mb:>7.1f} {p.rss_first_mb:>9.1f} {p.rss_last_mb:>8.1f} "
        f"{p.source_cpu_ms_per_msg:>7.3f} {p.wall_s:>6.1f}  {p.note}"
        for p in points
    )
    return lines


def find(points: Iterable[Point], contender: str, latency_ms: float, pollers: int) -> Point | None:
    """The run of `contender` at that latency and pollers count, if there was one that completed."""
    for p in points:
        if (p.contender, p.latency_ms, p.pollers) == (contender, latency_ms, pollers) and p.ok:
            return p
    return None


def batch_seconds(points: list[Point], latency_ms: float) -> tuple[float, str]:
    """The per-batch latency the bound uses: the bare drain's measured receive + delete round trip with
    one poller at that latency (10 messages per round trip), else the configured 2 x latency."""
    drain = find(points, "drain", latency_ms, 1)
    if drain is not None and drain.per_s > 0:
        return 10 / drain.per_s, "measured: drain, 1 poller, 10 msgs per receive+delete"
    return 2 * latency_ms / 1000, "configured: 2 calls x latency"


def bound_per_s(pollers: int, per_batch_s: float, cores: int, cpu_ms_per_msg: float) -> float:
    """min(pollers x 10 / per-batch latency, cores / CPU per notification)."""
    io_bound = pollers * 10 / per_batch_s if per_batch_s > 0 else math.inf
    cpu_bound = cores / (cpu_ms_per_msg / 1000) if cpu_ms_per_msg > 0 else math.inf
    return min(io_bound, cpu_bound)


@dataclass(frozen=True)
class Headline:
    """The figures behind the five summary lines, from one run (or the medians of several)."""

    latency_ms: float
    pollers: int
    backlog: int
    store_rows: int
    bounced_cpu: float
    drain_cpu: float
    cpu_ratio: float
    bounced_per_s: float
    classic_per_s: float
    speedup: float
    bound_per_s: float
    efficiency: float
    peak_rss_mb: float
    store_bounced_per_s: float
    store_copy_per_s: float
    store_ratio: float


def headline(
    plan: Plan, points: list[Point], backlog: list[Point], store: StoreResult, cores: int
) -> Headline:
    """One run's figures; NaN where a contender could not run."""
    lat, pol = plan.headline_latency_ms, plan.headline_pollers
    bounced = find(points, "bounced", lat, pol)
    drain = find(points, "drain", lat, pol)
    classic = find(points, "classic", lat, 1)
    b_cpu = bounced.cpu_ms_per_msg if bounced else NAN
    d_cpu = drain.cpu_ms_per_msg if drain else NAN
    b_rate = bounced.per_s if bounced else NAN
    c_rate = classic.per_s if classic else NAN
    per_batch, _ = batch_seconds(points, lat)
    bound = bound_per_s(pol, per_batch, cores, b_cpu) if bounced else NAN
    memory = next((p for p in backlog if p.contender == "bounced" and p.ok), None)
    return Headline(
        latency_ms=lat,
        pollers=pol,
        backlog=plan.backlog,
        store_rows=store.rows,
        bounced_cpu=b_cpu,
        drain_cpu=d_cpu,
        cpu_ratio=_ratio(b_cpu, d_cpu),
        bounced_per_s=b_rate,
        classic_per_s=c_rate,
        speedup=_ratio(b_rate, c_rate),
        bound_per_s=bound,
        efficiency=_ratio(b_rate, bound),
        peak_rss_mb=memory.peak_rss_mb if memory else NAN,
        store_bounced_per_s=store.bounced_per_s,
        store_copy_per_s=store.copy_per_s,
        store_ratio=_ratio(store.bounced_per_s, store.copy_per_s),
    )


def median_headline(runs: Sequence[Headline]) -> Headline:
    """Every figure the median over the runs. A ratio is the median of the runs' own ratios (each
    against the baseline measured in the same run), not a ratio of medians; the peak RSS is the
    highest of the runs."""
    if not runs:
        raise ValueError("no runs")
    first = runs[0]
    values: dict[str, Any] = {}
    for name in _MEASURED:
        found = [v for v in (getattr(run, name) for run in runs) if not math.isnan(v)]
        values[name] = statistics.median(found) if found else NAN
    peaks = [run.peak_rss_mb for run in runs if not math.isnan(run.peak_rss_mb)]
    values["peak_rss_mb"] = max(peaks) if peaks else NAN
    return dataclasses.replace(first, **values)


_MEASURED = (
    "bounced_cpu",
    "drain_cpu",
    "cpu_ratio",
    "bounced_per_s",
    "classic_per_s",
    "speedup",
    "bound_per_s",
    "efficiency",
    "store_bounced_per_s",
    "store_copy_per_s",
    "store_ratio",
)


def summary_lines(h: Headline) -> list[str]:
    """The five summary lines, in the issue's form; `nan` where a figure is missing."""
    return [
        f"cpu bounced_ms_per_msg={_n(h.bounced_cpu, 3)} drain_ms_per_msg={_n(h.drain_cpu, 3)} "
        f"ratio={_n(h.cpu_ratio, 2)}",
        f"speedup latency_ms={h.latency_ms:g} pollers={h.pollers} bounced_per_s={_n(h.bounced_per_s, 0)} "
        f"classic_per_s={_n(h.classic_per_s, 0)} ratio={_n(h.speedup, 0)}",
        f"efficiency latency_ms={h.latency_ms:g} pollers={h.pollers} achieved_per_s={_n(h.bounced_per_s, 0)} "
        f"bound_per_s={_n(h.bound_per_s, 0)} ratio={_n(h.efficiency, 2)}",
        f"memory backlog={h.backlog} peak_rss_mb={_n(h.peak_rss_mb, 0)}",
        f"store rows={h.store_rows} bounced_per_s={_n(h.store_bounced_per_s, 0)} "
        f"copy_per_s={_n(h.store_copy_per_s, 0)} ratio={_n(h.store_ratio, 2)}",
    ]


def single_process(plan: Plan, points: list[Point]) -> str:
    """The bound with one core for the consumer (1 / CPU per notification): a Python process runs on
    one core at a time, and here the load source and PostgreSQL need the other."""
    lat, pol = plan.headline_latency_ms, plan.headline_pollers
    bounced = find(points, "bounced", lat, pol)
    if bounced is None:
        return "single-process bound: nan (bounced did not complete)"
    bound = bound_per_s(pol, batch_seconds(points, lat)[0], 1, bounced.cpu_ms_per_msg)
    return (
        f"single-process bound latency_ms={lat:g} pollers={pol} bound_per_s={_n(bound, 0)} "
        f"achieved_per_s={_n(bounced.per_s, 0)} ratio={_n(_ratio(bounced.per_s, bound), 2)} "
        f"busy={_n(bounced.per_s * bounced.cpu_ms_per_msg / 1000, 2)}"
    )


def _n(value: float, digits: int) -> str:
    if math.isnan(value) or math.isinf(value):
        return "nan"
    return f"{value:.{digits}f}"


def _ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(b) else NAN
