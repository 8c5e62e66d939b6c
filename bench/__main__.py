"""`python -m bench` (make bench) and `python -m bench --quick` (make bench-quick): see issue 7.

    python -m bench [--quick] [--repeat 3] [--contenders bounced,drain,classic]
                    [--pollers 1,4,16,64] [--latencies 0,15] [--backlog 50000] [--store-rows 10000]
                    [--no-backlog] [--no-store] [--out bench/out] [--no-copy]

Progress goes to stderr; each run's table and figures, then the summary lines (last) to stdout.
These machines are noisy (two runs a minute apart differ by 10 % and more), so a full benchmark
is three whole runs, and each summary figure is the median of the three; each ratio is the median
of the runs' own ratios, every one against a baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import math
import os
import platform
import sys
from pathlib import Path

from bench import bodies, contenders, database, harness, plot, report, store_bench
from bench.harness import Plan, Point

DOCS_PNG = Path("docs/bench-throughput.png")


def machine() -> str:
    """nproc and the CPU model, for the table and the plot."""
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} x {model}, Python {platform.python_version()}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="bounced against the limit and peers"
    )
    parser.add_argument("--quick", action="store_true", help="small counts, reduced sweep (~1 minute)")
    parser.add_argument(
        "--repeat", type=int, help="whole runs; the summary gives medians (default 3, 1 with --quick)"
    )
    parser.add_argument("--contenders", default="bounced,drain,classic")
    parser.add_argument("--pollers", help="comma-separated pollers per queue to sweep")
    parser.add_argument("--latencies", help="comma-separated per-call latencies in ms")
    parser.add_argument("--backlog", type=int, help="messages in the memory (backlog) run")
    parser.add_argument("--store-rows", type=int, help="rows in the store-alone measure")
    parser.add_argument("--no-backlog", action="store_true")
    parser.add_argument("--no-store", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--no-copy", action="store_true", help=f"do not copy the plot to {DOCS_PNG}")
    return parser.parse_args(argv)


def plan_of(args: argparse.Namespace) -> Plan:
    """The plan the arguments ask for."""
    plan = harness.QUICK if args.quick else Plan()
    changes: dict[str, object] = {}
    if args.pollers:
        changes["pollers"] = tuple(int(x) for x in args.pollers.split(","))
    if args.latencies:
        changes["latencies_ms"] = tuple(float(x) for x in args.latencies.split(","))
    if args.backlog:
        changes["backlog"] = args.backlog
    if args.store_rows:
        changes["store_rows"] = args.store_rows
    return dataclasses.replace(plan, **changes)  # type: ignore[arg-type]


def chosen(names: str) -> list[contenders.Contender]:
    """The contenders that can run here; a line for each one that cannot."""
    ready = []
    for contender in contenders.ALL:
        if contender.name not in names.split(","):
            continue
        why = contender.unavailable()
        if why is None:
            ready.append(contender)
        else:
            print(f"skip {contender.name}: {why}")
    return ready


def store_measure(plan: Plan, admin: str) -> report.StoreResult:
    """COPY of the rows bounced writes (audit rows and state rows, into its own migrated tables), and
    bounced's Store.commit of the same notifications."""
    outcomes = store_bench.outcomes_of(bodies.generate(plan.store_rows, seed=11))
    dsn = database.fresh(admin)
    try:
        contenders.Bounced().prepare(dsn, {**os.environ, "BOUNCED_DATABASE_URL": dsn})
        copy = asyncio.run(store_bench.copy_rate(dsn, outcomes, plan.store_batch))
    finally:
        database.drop(admin, dsn)
    dsn = database.fresh(admin)
    try:
        contenders.Bounced().prepare(dsn, {**os.environ, "BOUNCED_DATABASE_URL": dsn})
        ours = asyncio.run(store_bench.bounced_rate(dsn, outcomes, plan.store_batch))
    finally:
        database.drop(admin, dsn)
    return report.StoreResult(plan.store_rows, plan.store_batch, ours, copy)


def explain(plan: Plan, points: list[Point], backlog: list[Point], store: report.StoreResult) -> None:
    """The lines between the table and the summary that say how the summary's numbers were made."""
    for latency in plan.latencies_ms:
        seconds, how = report.batch_seconds(points, latency)
        print(f"per-batch latency at {latency:g} ms: {seconds * 1000:.2f} ms ({how})")
    print(
        f"bound = min(pollers x 10 / per-batch latency, {os.cpu_count()} cores / CPU per notification); "
        "the load source and PostgreSQL share those cores"
    )
    print(report.single_process(plan, points))
    for p in backlog:
        print(
            f"memory {p.contender}: backlog={p.deleted} rss_first_mb={p.rss_first_mb:.1f} "
            f"rss_last_mb={p.rss_last_mb:.1f} peak_rss_mb={p.peak_rss_mb:.1f}"
        )
    print(
        f"store: {store.rows} notifications, {store.batch} per commit: COPY of the same audit and state "
        "rows into bounced's own tables vs bounced Store.commit (idempotent insert, locks, state rules)"
    )


@dataclasses.dataclass
class Run:
    """One whole run: the sweep, the backlog, the store measure and its headline figures."""

    points: list[Point]
    backlog: list[Point]
    store: report.StoreResult
    headline: report.Headline


def one_run(plan: Plan, ready: list[contenders.Contender], admin: str, args: argparse.Namespace) -> Run:
    """The sweep, the backlog and the store measure, once."""
    points = harness.sweep(plan, ready, admin, args.out / "logs")
    backlog = [] if args.no_backlog else harness.backlog(plan, ready, admin, args.out / "logs")
    no_store = report.StoreResult(plan.store_rows, plan.store_batch, math.nan, math.nan)
    store = no_store if args.no_store else store_measure(plan, admin)
    return Run(points, backlog, store, report.headline(plan, points, backlog, store, os.cpu_count() or 1))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print each run's table, then the summary lines (medians over the runs)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    args = parse_args(argv)
    plan = plan_of(args)
    repeat = args.repeat or (1 if args.quick else 3)
    print(f"machine: {machine()}")
    ready = chosen(args.contenders)
    runs: list[Run] = []
    with database.admin_dsn() as admin:
        settings = database.durability(admin)
        print("postgres: " + " ".join(f"{k}={v}" for k, v in settings.items()))
        if settings["fsync"] != "on" or settings["synchronous_commit"] != "on":
            print("WARNING: PostgreSQL is not durable here; store numbers are not comparable")
        for number in range(1, repeat + 1):
            logging.info("run %d of %d", number, repeat)
            runs.append(one_run(plan, ready, admin, args))
    for number, run in enumerate(runs, 1):
        print(f"\n--- run {number} of {repeat}")
        print("\n".join(report.table(run.points + run.backlog)))
        explain(plan, run.points, run.backlog, run.store)
        print("\n".join(f"run {number}: {line}" for line in report.summary_lines(run.headline)))
    results = args.out / "results.json"
    results.write_text(
        json.dumps([[dataclasses.asdict(p) for p in run.points + run.backlog] for run in runs], indent=1)
    )
    last = runs[-1]
    print(
        plot.throughput_png(
            last.points, args.out / "throughput.png", None if args.no_copy else DOCS_PNG, machine()
        )
    )
    if repeat > 1:
        print(
            f"summary: the median of {repeat} runs for each figure (ratios: the median of the runs' ratios)"
        )
    print("\n".join(report.summary_lines(report.median_headline([run.headline for run in runs]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
