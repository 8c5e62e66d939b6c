"""Throughput against pollers, one line per contender and latency, as a PNG for the docs' performance page."""

from __future__ import annotations

import shutil
from collections import defaultdict
from pathlib import Path

from bench.harness import Point


def throughput_png(points: list[Point], out: Path, copy_to: Path | None, machine: str) -> str:
    """Write the plot to `out` (and copy it to `copy_to`); return a line saying what was done."""
    try:
        import matplotlib  # noqa: PLC0415 (optional: the `bench` extra)

        matplotlib.use("Agg")
        from matplotlib import pyplot, ticker  # noqa: PLC0415
    except ImportError:
        return "plot skipped: matplotlib is not installed (pip install -e '.[bench]')"
    lines: dict[tuple[str, float], list[tuple[int, float]]] = defaultdict(list)
    for p in points:
        if p.ok:
            lines[(p.contender, p.latency_ms)].append((p.pollers, p.per_s))
    figure, axes = pyplot.subplots(figsize=(8, 5))
    for (name, latency), xy in sorted(lines.items()):
        xy.sort()
        axes.plot([x for x, _ in xy], [y for _, y in xy], marker="o", label=f"{name}, {latency:g} ms")
    axes.set_xscale("log", base=2)
    axes.set_xticks(sorted({p.pollers for p in points}))
    axes.xaxis.set_major_formatter(ticker.ScalarFormatter())
    axes.set_yscale("log")
    axes.set_xlabel("pollers per queue (the classic loop: always 1)")
    axes.set_ylabel("notifications / s")
    axes.set_title(f"Throughput against pollers ({machine})", fontsize=10)
    axes.grid(visible=True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110, bbox_inches="tight")
    pyplot.close(figure)
    if copy_to is not None:
        copy_to.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out, copy_to)
    return f"plot written to {out}" + (f" and {copy_to}" if copy_to else "")
