"""A worker killed with SIGKILL is visible at once, not only in another worker's log (issue 23,
item 4): its heartbeat in Redis expires, so ``taskonomy_workers{train}`` drops (and
``taskonomy_workers_lost`` rises) within the heartbeat expiry; the job it was running is restored
by a surviving worker's sweep, which shows as a ``job_restored`` event of the experiment and in
its record (``jobs_restored``, ``progress_at``), through the REST API and ``taskonomy status``.

Real redis-server, real worker processes (`taskonomy worker`), a real gateway on uvicorn. The
visibility timeout is long here, as in production, so the restore is the sweep's, not kombu's.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from services.gateway.app import create_app
from services.gateway.server import BackgroundServer
from services.queue.redisconn import redis_client
from services.queue.state import ExperimentStateStore
from services.queue.submission import submit
from tests.services.gateway._fixtures import make_settings
from tests.services.workers._harness import Worker, noop_graph, wait_for, wait_terminal

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HEARTBEAT_S = 1.0
TTL_S = 3 * HEARTBEAT_S  # services.queue.heartbeats.TTL_BEATS beats
ENV = {"TASKONOMY_HEARTBEAT_SECONDS": str(HEARTBEAT_S), "TASKONOMY_VISIBILITY_TIMEOUT": "600"}


def _workers(c: httpx.Client) -> dict[str, float]:
    text = c.get("/metrics").text
    return {dict(s.labels).get("queue", "lost"): s.value for f in text_string_to_metric_families(text)
            if f.name in ("taskonomy_workers", "taskonomy_workers_lost") for s in f.samples}


def test_a_killed_worker_drops_from_the_gauge_and_its_restored_job_shows(
        redis_url: str, solver_address: str, tmp_path: Path) -> None:
    state = ExperimentStateStore(redis_client(redis_url))
    trainer = Worker("trainer", broker_url=redis_url, log_path=tmp_path / "trainer1.log", env=ENV)
    transfer = Worker("transfer", broker_url=redis_url, log_path=tmp_path / "transfer.log", env=ENV)
    replacement = None
    settings = make_settings(redis_url, solver_address, tmp_path / "gw-store")
    try:
        trainer.wait_ready()
        transfer.wait_ready()
        with BackgroundServer(create_app(settings)) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
            wait_for(lambda: _workers(c) == {"train": 1, "transfer": 1, "control": 2, "lost": 0}, timeout=20,
                     what="both workers in taskonomy_workers")
            submit("lw", noop_graph(3, seconds=2.0, chain=True, queue_cycle=("train",), tag="lw"),
                   broker_url=redis_url, store_url=str(tmp_path / "store"))
            leases = wait_for(lambda: state.r.keys("taskonomy:lease:*"), timeout=60, what="a job to run")
            killed_job = str(leases[0]).split(":")[-1]
            trainer.kill()  # SIGKILL the worker and its pool child, mid-job
            killed_at = time.monotonic()
            wait_for(lambda: _workers(c).get("train") == 0, timeout=TTL_S + 5, what="the train gauge to drop",
                     interval=0.1)
            dropped_after = time.monotonic() - killed_at
            print(f"taskonomy_workers{{train}} dropped {dropped_after:.2f} s after the kill")
            assert dropped_after <= TTL_S + 1.0, f"the gauge dropped {dropped_after:.1f} s after the kill"
            assert _workers(c) == {"train": 0, "transfer": 1, "control": 1, "lost": 1}

            # the surviving transfer worker's sweep restores the killed job's message: an event of the experiment
            def restored() -> list[dict]:
                events = c.get("/v1/experiments/lw/events").json()["events"]
                return [e for e in events if e["event"] == "job_restored"]

            found = wait_for(restored, timeout=30, what="a job_restored event")
            assert found[0]["job"] == killed_job and "worker was lost" in found[0]["reason"]
            running = c.get("/v1/experiments/lw").json()
            assert running["state"] == "RUNNING" and running["jobs_restored"] == 1

            replacement = Worker("trainer", broker_url=redis_url, log_path=tmp_path / "trainer2.log", env=ENV)
            rec = wait_terminal(state, "lw", timeout=90)
            assert rec.state == "SUCCEEDED", rec.error
            body = c.get("/v1/experiments/lw").json()
            events = c.get(body["links"]["events"]).json()["events"]
        assert body["jobs_restored"] == 1 and body["jobs_retried"] == 0
        assert body["progress_at"] is not None and body["created_at"] <= body["progress_at"] <= body["updated_at"]
        kinds = [e["event"] for e in events]
        assert kinds[:2] == ["submitted", "started"] and kinds[-1] == "succeeded", kinds
        assert kinds.count("job_restored") == 1 and kinds.index("job_restored") < kinds.index("succeeded")
        assert [e["at"] for e in events] == sorted(e["at"] for e in events)

        from taskonomy.cli import build_app

        shown = CliRunner().invoke(build_app(), ["status", "lw", "--broker", redis_url])
        assert shown.exit_code == 0, shown.output
        assert "jobs restored after a lost worker: 1" in shown.output
        assert f"job_restored  {killed_job}" in shown.output
    finally:
        for w in (trainer, transfer, replacement):
            if w is not None:
                w.stop()
