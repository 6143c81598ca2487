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
    with gw.client() as c:  # no report before the workers wrote it
        early = c.get(f"/v1/experiments/{exp_id}/report")
    assert early.status_code == 404 and early.headers["content-type"] == "application/problem+json", early.text
    assert "no report yet" in early.json()["detail"]
    before = job_count(gw)
    with running_workers(gw.settings.broker_url, tmp_path, env={"TASKONOMY_REPORTS": "1"}):
        first = wait_finished(gw, exp_id, timeout=240)
        assert first["state"] == "SUCCEEDED", first
        assert all(s["done"] == s["total"] > 0 for s in first["stages"].values()), first["stages"]
        assert job_count(gw) >= before + sum(s["total"] for s in first["stages"].values())

        with gw.client() as c:
            table = c.get(f"/v1/experiments/{exp_id}/transfers").json()
            taxonomy = c.post("/v1/taxonomy", json={"table": exp_id, "budget": 1})
        assert {r["target"] for r in table["rows"]} == {"autoencoding", "depth_zbuffer"}
        assert taxonomy.status_code == 200 and taxonomy.json()["status"] == "OPTIMAL", taxonomy.text
        assert len([r for r in taxonomy.json()["roots"] if r != "random"]) == 1  # the random encoder is free
        check_report(gw, exp_id, first)

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


def check_report(gw: Live, exp_id: str, record: dict[str, Any]) -> None:
    """The finalize step wrote the report into the store; the API serves it with its figures."""
    import re

    assert record["result"]["report"] == f"experiments/{exp_id}/report/report.html"
    assert record["links"]["report"] == f"/v1/experiments/{exp_id}/report"
    with gw.client() as c:
        page = c.get(record["links"]["report"])
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), page.text[:300]
        assert "default-src 'none'" in page.headers["content-security-policy"]
        html = page.text
        assert f'<base href="/v1/experiments/{exp_id}/report/">' in html
        assert "Taskonomy: tiny-e2e" in html and "Taxonomy at budget" in html
        figures = re.findall(r'<img src="([^"]+[.]png)"', html)
        assert "affinity_after.png" in figures and len(figures) >= 4, figures
        for name in figures:
            figure = c.get(f"/v1/experiments/{exp_id}/report/{name}")
            assert figure.status_code == 200 and figure.headers["content-type"] == "image/png", name
            assert figure.content.startswith(b"\x89PNG")
        assert c.get(f"/v1/experiments/{exp_id}/report/validity.json").json()
        assert c.get(f"/v1/experiments/{exp_id}/report/taxonomy.json").json()["status"] == "OPTIMAL"
        assert c.get(f"/v1/experiments/{exp_id}/report/transfers.csv").text.startswith("target,")
        missing = c.get(f"/v1/experiments/{exp_id}/report/nothing.png")
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
        for bad in ("..%2Fmanifest.json", "report.html", "x.exe"):
            assert c.get(f"/v1/experiments/{exp_id}/report/{bad}").status_code in (404, 422), bad
