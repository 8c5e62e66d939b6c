"""deploy/grafana/bounced.json: an importable dashboard whose every query parses and reads only
metrics bounced exports, with a panel for each of them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.unit.prometheus_support import (
    PROMETHEUS_SERIES,
    check_expressions,
    exported_metric_names,
    metric_names,
)

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "bounced.json"
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
# Grafana's own variables, given a value PromQL accepts where they stand (a range).
GRAFANA_RANGES = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(container: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included (a collapsed row keeps its panels inside)."""
    for panel in container.get("panels", []):
        yield panel
        yield from panels(panel)


def expressions() -> list[str]:
    return [target["expr"] for panel in panels(dashboard()) for target in panel.get("targets", [])]


def variables() -> set[str]:
    return {variable["name"] for variable in dashboard()["templating"]["list"]}


def substituted(expr: str) -> str:
    """`expr` as Prometheus would receive it: ranges for Grafana's intervals, `.+` for our variables."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return GRAFANA_RANGES.get(name, ".+")

    return _VARIABLE.sub(value, expr)


def test_the_data_source_is_a_variable() -> None:
    templating = {variable["name"]: variable for variable in dashboard()["templating"]["list"]}
    assert templating["DS_PROMETHEUS"]["type"] == "datasource"
    assert templating["DS_PROMETHEUS"]["query"] == "prometheus"
    for panel in panels(dashboard()):
        if panel["type"] != "row":
            assert panel["datasource"] == DATASOURCE, panel["title"]
            assert panel["targets"], panel["title"]
            assert all(target["datasource"] == DATASOURCE for target in panel["targets"]), panel["title"]


def test_panel_ids_are_unique_and_a_collapsed_row_holds_panels() -> None:
    ids = [panel["id"] for panel in panels(dashboard())]
    assert len(ids) == len(set(ids))
    collapsed = [panel for panel in panels(dashboard()) if panel["type"] == "row" and panel["collapsed"]]
    assert all(row["panels"] for row in collapsed)


def test_every_variable_used_is_defined() -> None:
    queries = [*expressions(), *(v.get("definition", "") for v in dashboard()["templating"]["list"])]
    used = {m.group(1) or m.group(2) for text in queries for m in _VARIABLE.finditer(text)}
    assert used - set(GRAFANA_RANGES) <= variables()


def test_every_expression_parses(tmp_path: Path) -> None:
    exprs = [substituted(expr) for expr in expressions()]
    assert len(exprs) >= 10
    result = check_expressions(exprs, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_expression_reads_metrics_bounced_exports() -> None:
    for expr in expressions():
        read = metric_names(substituted(expr))
        assert read, expr
        assert read <= exported_metric_names() | PROMETHEUS_SERIES, expr


def test_every_metric_bounced_exports_has_a_panel() -> None:
    shown = {name for expr in expressions() for name in metric_names(substituted(expr))}
    families = {re.sub(r"_(total|bucket|sum|count|created)$", "", name) for name in shown}
    exported = {re.sub(r"_(total|bucket|sum|count|created)$", "", name) for name in exported_metric_names()}
    assert exported <= families, f"no panel for {sorted(exported - families)}"
