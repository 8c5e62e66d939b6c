"""The benchmark's summary over several runs (bench/report.py): medians, in the issue's line form."""

from __future__ import annotations

import dataclasses
import math

from bench.report import Headline, median_headline, summary_lines

RUN = Headline(
    latency_ms=15.0,
    pollers=16,
    backlog=50000,
    store_rows=10000,
    bounced_cpu=0.25,
    drain_cpu=0.16,
    cpu_ratio=0.25 / 0.16,
    bounced_per_s=3000.0,
    classic_per_s=28.0,
    speedup=3000 / 28,
    bound_per_s=4600.0,
    efficiency=3000 / 4600,
    peak_rss_mb=77.0,
    store_bounced_per_s=12000.0,
    store_copy_per_s=24000.0,
    store_ratio=0.5,
)


def test_each_figure_is_the_median_and_ratios_are_the_runs_own() -> None:
    runs = [
        RUN,
        dataclasses.replace(RUN, bounced_cpu=0.30, drain_cpu=0.15, cpu_ratio=2.0, peak_rss_mb=80.0),
        dataclasses.replace(RUN, bounced_cpu=0.20, drain_cpu=0.19, cpu_ratio=1.05, peak_rss_mb=70.0),
    ]
    median = median_headline(runs)
    assert median.bounced_cpu == 0.25
    assert median.drain_cpu == 0.16
    assert median.cpu_ratio == RUN.cpu_ratio  # the middle run's own ratio, not 0.25 / 0.16 by chance
    assert median.peak_rss_mb == 80.0  # memory: the worst run
    assert median.pollers == 16


def test_a_figure_missing_from_some_runs_is_the_median_of_the_others() -> None:
    runs = [RUN, dataclasses.replace(RUN, classic_per_s=math.nan, speedup=math.nan)]
    assert median_headline(runs).classic_per_s == 28.0
    assert math.isnan(median_headline([dataclasses.replace(RUN, store_ratio=math.nan)]).store_ratio)


def test_summary_lines_keep_the_issue_form() -> None:
    lines = summary_lines(RUN)
    assert lines[0] == "cpu bounced_ms_per_msg=0.250 drain_ms_per_msg=0.160 ratio=1.56"
    assert lines[1] == "speedup latency_ms=15 pollers=16 bounced_per_s=3000 classic_per_s=28 ratio=107"
    assert lines[2] == "efficiency latency_ms=15 pollers=16 achieved_per_s=3000 bound_per_s=4600 ratio=0.65"
    assert lines[3] == "memory backlog=50000 peak_rss_mb=77"
    assert lines[4] == "store rows=10000 bounced_per_s=12000 copy_per_s=24000 ratio=0.50"
