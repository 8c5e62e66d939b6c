"""deploy/prometheus/bounced-rules.yml: valid, unit-tested by promtool (every alert both fires and
stays quiet), annotated with a runbook section that exists, and reading only metrics bounced exports
(or is about to)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML (via cfn-lint) ships no stubs
from markdown.extensions.toc import slugify  # type: ignore[import-untyped]  # no stubs (via mkdocs)

from tests.unit.prometheus_support import (
    PROMETHEUS_SERIES,
    check_expressions,
    exported_metric_names,
    metric_names,
    run_promtool,
)

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "bounced-rules.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "bounced-rules.test.yml"
RUNBOOK = ROOT / "docs" / "how-to" / "runbook.md"
RUNBOOK_URL = "https://bounced.example/how-to/runbook/#"
SEVERITIES = {"critical", "warning"}
# The reputation figures the rules already alert on; bounced exports them later. Remove a name from
# here when the daemon exports it (test_metrics_to_be_exported_are_not_yet insists).
TO_BE_EXPORTED = frozenset({"bounced_bounce_rate", "bounced_complaint_rate", "bounced_sends"})


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def alerts() -> list[dict[str, Any]]:
    return [rule for group in load(RULES)["groups"] for rule in group["rules"] if "alert" in rule]


def alert_names() -> list[str]:
    return [rule["alert"] for rule in alerts()]


def runbook_anchors() -> set[str]:
    """The ids mkdocs gives the runbook's headings (the same slugify as its toc extension)."""
    anchors, fenced = set(), False
    for line in RUNBOOK.read_text().splitlines():
        fenced ^= line.startswith("```")
        if line.startswith("#") and not fenced:
            anchors.add(slugify(line.lstrip("#").strip(), "-"))
    return anchors


def test_promtool_accepts_the_rules() -> None:
    result = run_promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    result = run_promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_alerts_are_the_documented_set() -> None:
    names = alert_names()
    assert len(names) == len(set(names)), "duplicate alert names"
    assert len(names) == 9


@pytest.mark.parametrize("name", alert_names())
def test_every_alert_is_tested_firing_and_quiet(name: str) -> None:
    cases = [case for test in load(RULE_TESTS)["tests"] for case in test.get("alert_rule_test", [])]
    outcomes = [bool(case.get("exp_alerts")) for case in cases if case["alertname"] == name]
    assert True in outcomes, f"no promtool test where {name} fires"
    assert False in outcomes, f"no promtool test where {name} stays quiet"


@pytest.mark.parametrize("rule", alerts(), ids=lambda rule: str(rule["alert"]))
def test_every_alert_says_what_and_where_to_look(rule: dict[str, Any]) -> None:
    annotations = rule["annotations"]
    assert annotations["summary"].strip()
    assert annotations["description"].strip()
    assert rule["labels"]["severity"] in SEVERITIES
    url: str = annotations["runbook_url"]
    assert url.startswith(RUNBOOK_URL), url
    anchor = url.removeprefix(RUNBOOK_URL)
    assert anchor == rule["alert"].lower(), "one runbook section per alert, named for it"
    assert anchor in runbook_anchors(), f"docs/how-to/runbook.md has no section #{anchor}"


def test_rules_read_only_metrics_bounced_exports() -> None:
    read = set().union(*(metric_names(rule["expr"]) for rule in alerts()))
    unknown = read - exported_metric_names() - PROMETHEUS_SERIES - TO_BE_EXPORTED
    assert not unknown, f"the rules read metrics bounced does not export: {sorted(unknown)}"
    assert read >= TO_BE_EXPORTED, "a metric to be exported is read by no rule: drop it"


def test_metrics_to_be_exported_are_not_yet() -> None:
    assert not TO_BE_EXPORTED & exported_metric_names(), "exported now: drop them from TO_BE_EXPORTED"


def test_metric_names_finds_metrics_and_only_them() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (job, le) (rate(lag_bucket{le!="+Inf", q=~"a|b"}[5m]))) > 3e2'
        " and on (job) gauge offset 15m unless ignoring (instance) other_total == bool 1"
    )
    assert metric_names(expr) == {"lag_bucket", "gauge", "other_total"}


def test_expression_check_rejects_what_does_not_parse(tmp_path: Path) -> None:
    assert check_expressions(["sum(rate(x[5m]))"], tmp_path).returncode == 0
    assert check_expressions(["sum(rate(x[5m])"], tmp_path).returncode != 0
