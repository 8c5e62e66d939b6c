"""What the alert rules and the dashboard are checked with: promtool, the metric names bounced
exports, and the metric names a PromQL expression reads."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML (via cfn-lint) ships no stubs

from bounced.service.metrics import Metrics
from tests.support import testenv

# Series names each metric type exposes, beyond a gauge's bare name.
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
}
# Prometheus's own series for every target.
PROMETHEUS_SERIES = frozenset({"up"})

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
# An identifier that does not continue a number or a duration ("1e3", "15m") and is not a call.
_NAME = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*+)(?!\s*\()")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "offset", "bool", "by", "without", "on", "ignoring", "group_left",
     "group_right", "inf", "nan"}
)  # fmt: skip


def promtool() -> str:
    """The promtool binary; skips the test where it is missing, unless promtool is required."""
    found = shutil.which("promtool")
    if found is None:
        if testenv.REQUIRE_PROMTOOL:
            pytest.fail("promtool is required here (.ci/run installs it) but missing")
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    return found


def run_promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """promtool with `args`, its output captured."""
    return subprocess.run([promtool(), *args], capture_output=True, text=True, check=False, cwd=cwd)


def exported_metric_names() -> frozenset[str]:
    """Every series name the daemon's `Metrics` registry can expose, labelled or not."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        suffixes = _SUFFIXES.get(family.type)
        assert suffixes is not None, f"{family.name}: unexpected metric type {family.type}"
        names.update(family.name + suffix for suffix in suffixes)
    return frozenset(names)


def metric_names(expr: str) -> frozenset[str]:
    """The metric names a PromQL expression reads (functions, keywords and labels left out)."""
    text = _STRING.sub('""', expr)
    for pattern in (_MATCHERS, _RANGES, _LABEL_LISTS):
        text = pattern.sub(" ", text)
    return frozenset(name for name in _NAME.findall(text) if name.lower() not in _KEYWORDS)


def check_expressions(exprs: Iterable[str], folder: Path) -> subprocess.CompletedProcess[str]:
    """`promtool check rules` over `exprs` written as recording rules: it parses every one."""
    rules = [{"record": f"check:expr_{i}", "expr": expr} for i, expr in enumerate(exprs)]
    path = folder / "expressions.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "expressions", "rules": rules}]}))
    return run_promtool("check", "rules", str(path))
