"""The dashboard's panels give the true cluster figures whatever the number of gateway replicas
(issue 23, item 2): every gateway exports what it reads from Redis, so a panel that summed those
figures over gateways counted them once per replica.

Two real gateways over ONE real Redis holding known state, scraped by a real Prometheus; every
dashboard query over cluster-wide metrics (services.metric_catalog.CLUSTER_METRICS) is evaluated
by Prometheus and must equal the true figure (gauges), and what the same query gives over one
gateway alone (rates and percentiles).
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from services.gateway.app import create_app
from services.gateway.server import BackgroundServer
from services.metric_catalog import CLUSTER_METRICS
from services.queue.heartbeats import beat, registry_key
from services.queue.job_metrics import record_job
from services.queue.redisconn import redis_client
from services.queue.state import ExperimentStateStore
from tests.deploy._prometheus import prometheus
from tests.deploy.promql import metric_names
from tests.deploy.test_dashboard import DASHBOARD, _panels
from tests.services.gateway._fixtures import make_settings, solver_address  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: (panel title, refId) -> the true figure, by the panel's legend label.
TRUTH: dict[tuple[str, str], dict[str, float]] = {
    ("Queue depth per queue", "A"): {"train": 3, "transfer": 0, "control": 0},
    ("Workers per queue", "A"): {"train": 1, "transfer": 1, "control": 2},
    ("Workers per queue", "B"): {"": 1},
    ("Experiments by state", "A"): {"SUCCEEDED": 4, "FAILED": 1, "RUNNING": 2, "PENDING": 0, "CANCELLING": 0,
                                    "CANCELLED": 0},
    ("Jobs of running experiments by state", "A"): {"done": 4, "pending": 4, "failed": 0},
    ("Experiment progress, by stage", "A"): {"train": 0.5},
}


def _cluster_targets() -> list[tuple[str, str, str]]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [(panel["title"], target["refId"], target["expr"]) for panel in _panels(dashboard["panels"])
            for target in panel.get("targets", []) if metric_names(target["expr"]) <= CLUSTER_METRICS]


def _one_instance(expr: str, instance: str) -> str:
    """``expr`` over the series of one gateway only."""
    names = "|".join(sorted(CLUSTER_METRICS, key=len, reverse=True))
    return re.sub(rf"\b({names})\b(?!\{{)", rf'\1{{instance="{instance}"}}', expr)


def _by_label(result: dict[tuple[tuple[str, str], ...], float]) -> dict[str, float]:
    return {",".join(v for _, v in labels): value for labels, value in result.items()}


def _known_state(redis_url: str) -> None:
    r = redis_client(redis_url)
    state = ExperimentStateStore(r)
    for i, final in enumerate(["SUCCEEDED"] * 4 + ["FAILED"]):
        state.create(f"done-{i}", {})
        state.set_state(f"done-{i}", final)
    for exp_id, done in (("run-a", 1), ("run-b", 3)):
        state.create(exp_id, {})
        state.set_state(exp_id, "RUNNING")
        state.add_stage_jobs(exp_id, "train", 4)
        for _ in range(done):
            state.job_done(exp_id, "train")
    r.rpush("train", "m1", "m2", "m3")  # three messages waiting (the gauge is LLEN)
    now = time.time()
    beat(r, "trainer-1@node", ["train", "control"], every=600, started_at=now)
    beat(r, "transfer-1@node", ["transfer", "control"], every=600, started_at=now)
    r.hset(registry_key(), "trainer-0@node", json.dumps({"queues": ["train", "control"], "seen_at": now - 60}))
    for _ in range(42):
        record_job(r, kind="transfer", outcome="executed", seconds=0.3)


def test_panels_are_right_with_two_gateways(redis_url: str, solver_address: str, tmp_path: Path) -> None:  # noqa: F811
    _known_state(redis_url)
    stop = threading.Event()

    def finish_jobs() -> None:  # a steady 4 jobs/s, so that rates are not zero
        r = redis_client(redis_url)
        while not stop.wait(0.25):
            record_job(r, kind="transfer", outcome="executed", seconds=0.3)
            record_job(r, kind="train", outcome="executed", seconds=2.0)

    settings = make_settings(redis_url, solver_address, tmp_path / "store")
    feeder = threading.Thread(target=finish_jobs, daemon=True)
    feeder.start()
    try:
        with BackgroundServer(create_app(settings)) as a, BackgroundServer(create_app(settings)) as b:
            instances = [httpx.URL(srv.url).netloc.decode() for srv in (a, b)]
            with prometheus(instances, tmp_path / "prometheus") as prom:
                prom.wait_for_samples(targets=2, samples=5)
                targets = _cluster_targets()
                both = {(title, ref): _by_label(prom.query(expr)) for title, ref, expr in targets}
                alone = {(title, ref): _by_label(prom.query(_one_instance(expr, instances[0])))
                         for title, ref, expr in targets}
                per_gateway = _by_label(prom.query('taskonomy_experiments{state="SUCCEEDED"}'))
                summed = _by_label(prom.query("sum by (kind) (rate(taskonomy_jobs_finished_total[5m]))"))
    finally:
        stop.set()
        feeder.join()

    assert list(per_gateway.values()) == [4.0, 4.0], per_gateway  # both gateways export the cluster figure
    assert set(TRUTH) <= set(both), sorted(both)
    for key, truth in TRUTH.items():
        assert both[key] == truth, (key, both[key])
    for key, values in both.items():
        assert values, f"panel {key} shows nothing"
        assert set(values) == set(alone[key]), (key, values, alone[key])
        for label, value in values.items():
            assert value == pytest.approx(alone[key][label], rel=0.25), (key, label, value, alone[key][label])
    rates = both[("Jobs finished per second, by kind", "A")]
    assert rates["transfer"] > 0
    assert summed["transfer"] == pytest.approx(2 * rates["transfer"], rel=0.25)  # what `sum` showed: double
