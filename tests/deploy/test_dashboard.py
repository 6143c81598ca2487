"""The Grafana dashboard queries only metrics that the services export (services/metric_catalog.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.metric_catalog import CLUSTER_METRICS, METRIC_NAMES
from tests.deploy.promql import metric_names

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy/helm/taskonomy/dashboards/taskonomy.json"


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in _panels(dashboard["panels"])
        for target in panel.get("targets", [])
        if "expr" in target
    ]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('sum by (queue) (taskonomy_queue_depth{queue="train"})', {"taskonomy_queue_depth"}),
        ("rate(taskonomy_jobs_finished_total[5m])", {"taskonomy_jobs_finished_total"}),
        (
            "histogram_quantile(0.95, sum by (le, kind) (rate(taskonomy_job_duration_seconds_bucket[5m])))",
            {"taskonomy_job_duration_seconds_bucket"},
        ),
        ("sum(rate(a_total[$__rate_interval])) by (kind) / on(kind) group_left b", {"a_total", "b"}),
        ('{__name__="up", job=~"gate.*"} == 1', {"up"}),
        ("max_over_time(x[1h:5m]) > 1e3 and bool y offset 5m", {"x", "y"}),
        ('label_replace(z, "dst", "$1", "src", "(.*)")', {"z"}),
        ("sum without (instance) (w) unless ignoring(le) v", {"w", "v"}),
    ],
)
def test_metric_name_extractor(expr: str, expected: set[str]) -> None:
    assert metric_names(expr) == expected


def test_every_panel_query_uses_exported_metrics(exprs: list[tuple[str, str]]) -> None:
    assert exprs, "the dashboard has no queries"
    unknown = {
        (title, name) for title, expr in exprs for name in metric_names(expr) if name not in METRIC_NAMES
    }
    assert not unknown, f"panels query metrics the services do not export: {sorted(unknown)}"
    for title, expr in exprs:
        assert metric_names(expr), f"panel {title!r} selects no metric: {expr!r}"


def test_cluster_wide_figures_are_never_summed_over_gateways(exprs: list[tuple[str, str]]) -> None:
    """Figures read from Redis are exported identically by every gateway replica: the aggregation
    applied to them first must be max/min/avg (``sum`` would count them once per replica). The
    panels' values with two real gateways are checked in test_dashboard_replicas.py."""
    names = "|".join(sorted(CLUSTER_METRICS, key=len, reverse=True))
    summed = re.compile(rf"\b(?:sum|count)\s*(?:by\s*\([^()]*\)\s*)?\((?:\s*(?:rate|increase|irate)\()?\s*"
                        rf"(?:{names})\b")
    bad = [(title, expr) for title, expr in exprs if summed.search(expr)]
    assert not bad, bad
    assert summed.search("sum by (state) (taskonomy_experiments)")
    assert summed.search("sum(rate(taskonomy_jobs_finished_total[5m]))")
    assert not summed.search("sum by (kind) (max by (kind, outcome) (rate(taskonomy_jobs_finished_total[5m])))")


def test_dashboard_covers_the_operational_questions(exprs: list[tuple[str, str]]) -> None:
    used = {name for _, expr in exprs for name in metric_names(expr)}
    # queue depth per queue, jobs/s, job duration percentiles, experiment progress, workers
    assert {
        "taskonomy_queue_depth",
        "taskonomy_jobs_finished_total",
        "taskonomy_job_duration_seconds_bucket",
        "taskonomy_experiment_progress_ratio",
        "taskonomy_workers",
    } <= used
    assert any("by (queue)" in expr and "taskonomy_queue_depth" in expr for _, expr in exprs)
    assert any(expr.startswith("histogram_quantile(0.95") for _, expr in exprs)
    assert any("rate(taskonomy_jobs_finished_total" in expr for _, expr in exprs)


def test_dashboard_is_well_formed(dashboard: dict[str, Any]) -> None:
    panels = list(_panels(dashboard["panels"]))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    assert dashboard["uid"] and dashboard["title"]
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]
