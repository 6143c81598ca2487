"""Through the gateway only: submit a tiny experiment, real trainer and transfer workers run it,
metrics move while they do, the transfer table and a taxonomy over it come back, and an added
task runs only its new jobs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.services.gateway._fixtures import Live
from tests.services.workers._harness import running_workers, tiny_spec

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TINY: dict[str, Any] = tiny_spec("tiny-e2e")


def job_count(gw: Live) -> float:
    with gw.client() as c:
        text = c.get("/metrics").text
    return sum(s.value for f in text_string_to_metric_families(text) if f.name == "taskonomy_job_duration_seconds"
               for s in f.samples if s.name == "taskonomy_job_duration_seconds_count")


def wait_finished(gw: Live, exp_id: str, *, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with gw.client() as c:
        while time.monotonic() < deadline:
            body: dict[str, Any] = c.get(f"/v1/experiments/{exp_id}").json()
            if body["state"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                return body
            time.sleep(0.3)
    raise AssertionError(f"experiment {exp_id} did not finish in {timeout} s")


def test_submit_run_query_and_extend(gw: Live, tmp_path: Path) -> None:
    with gw.client(auth=True) as c:
        submitted = c.post("/v1/experiments", json=TINY)
    assert submitted.status_code == 202, submitted.text
    exp_id = submitted.json()["id"]
    before = job_count(gw)
    with running_workers(gw.settings.broker_url, tmp_path):
        first = wait_finished(gw, exp_id, timeout=240)
        assert first["state"] == "SUCCEEDED", first
        assert all(s["done"] == s["total"] > 0 for s in first["stages"].values()), first["stages"]
        assert job_count(gw) >= before + sum(s["total"] for s in first["stages"].values())

        with gw.client() as c:
            table = c.get(f"/v1/experiments/{exp_id}/transfers").json()
            taxonomy = c.post("/v1/taxonomy", json={"table": exp_id, "budget": 1})
        assert {r["target"] for r in table["rows"]} == {"autoencoding", "depth_zbuffer"}
        assert taxonomy.status_code == 200 and taxonomy.json()["status"] == "OPTIMAL", taxonomy.text
        assert len(taxonomy.json()["roots"]) == 1

        with gw.client(auth=True) as c:
            added = c.post(f"/v1/experiments/{exp_id}/tasks", json={"name": "normal"})
        assert added.status_code == 202, added.text
        second = wait_finished(gw, exp_id, timeout=240)
        assert second["state"] == "SUCCEEDED", second
        stats = second["result"]["jobs"]
        assert stats.get("skipped", 0) > 0  # the first run's networks and transfers were reused
        with gw.client() as c:
            rows = c.get(f"/v1/experiments/{exp_id}/transfers").json()["rows"]
        assert {r["target"] for r in rows} == {"autoencoding", "depth_zbuffer", "normal"}
