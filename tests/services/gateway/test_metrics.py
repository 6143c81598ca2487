"""/metrics over a real uvicorn server: queue depth from Redis, experiments and jobs by state,
job durations recorded the way workers record them, request latency by route template."""

from __future__ import annotations

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from services.metric_catalog import METRIC_NAMES
from services.queue.job_metrics import record_job
from tests.services.gateway._fixtures import Live

pytestmark = pytest.mark.integration

SPEC = {"tasks": ["normal", "reshading"], "splits": {"train": 8, "transfer": 4, "test": 4}}


def scrape(gw: Live) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with gw.client() as c:
        resp = c.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_move_while_jobs_run(gw: Live) -> None:
    r = redis.Redis.from_url(gw.settings.broker_url)
    before = scrape(gw)
    assert value(before, "taskonomy_queue_depth", queue="control") == 0
    assert value(before, "taskonomy_experiments", state="RUNNING") == 0

    with gw.client(auth=True) as c:
        exp_id = c.post("/v1/experiments", json=SPEC).json()["id"]
    state = gw.ctx.state
    # what the executor and the workers do while the experiment runs
    state.set_state(exp_id, "RUNNING")
    state.add_stage_jobs(exp_id, "train", 4)
    state.add_stage_jobs(exp_id, "transfers", 2)
    state.job_done(exp_id, "train")
    state.job_done(exp_id, "train", failed=True)
    for i in range(3):
        r.lpush("train", f"job-{i}")
    record_job(r, kind="train", outcome="executed", seconds=1.5)
    record_job(r, kind="train", outcome="skipped", seconds=0.01)

    during = scrape(gw)
    assert value(during, "taskonomy_queue_depth", queue="control") == 1  # the run_experiment message
    assert value(during, "taskonomy_queue_depth", queue="train") == 3
    assert value(during, "taskonomy_queue_depth", queue="transfer") == 0
    assert value(during, "taskonomy_experiments", state="RUNNING") == 1
    assert value(during, "taskonomy_jobs", state="done") == 1
    assert value(during, "taskonomy_jobs", state="failed") == 1
    assert value(during, "taskonomy_jobs", state="pending") == 4
    assert value(during, "taskonomy_experiment_progress_ratio", stage="train") == 0.25
    assert value(during, "taskonomy_job_duration_seconds_count", kind="train") == 2
    assert value(during, "taskonomy_job_duration_seconds_bucket", kind="train", le="2.5") == 2
    assert value(during, "taskonomy_job_duration_seconds_bucket", kind="train", le="1.0") == 1
    assert value(during, "taskonomy_jobs_finished_total", kind="train", outcome="executed") == 1

    # the experiment advances: a worker takes a message, finishes jobs; then it succeeds
    r.rpop("train")
    state.job_done(exp_id, "train")
    state.job_done(exp_id, "transfers")
    record_job(r, kind="transfer", outcome="executed", seconds=20)
    later = scrape(gw)
    assert value(later, "taskonomy_queue_depth", queue="train") == 2
    assert value(later, "taskonomy_jobs", state="done") == 3
    assert value(later, "taskonomy_experiment_progress_ratio", stage="train") == 0.5
    assert value(later, "taskonomy_job_duration_seconds_count", kind="transfer") == 1
    state.set_state(exp_id, "SUCCEEDED")
    done = scrape(gw)
    assert value(done, "taskonomy_experiments", state="RUNNING") == 0
    assert value(done, "taskonomy_experiments", state="SUCCEEDED") == 1
    assert value(done, "taskonomy_jobs", state="pending") == 0


def test_request_latency_is_labelled_by_route_template(gw: Live) -> None:
    with gw.client() as c:
        c.get("/v1/experiments/some-id-1")
        c.get("/v1/experiments/some-id-2")
        c.get("/no/such/route")
    samples = scrape(gw)
    routes = {dict(labels).get("route") for (name, labels) in samples
              if name == "taskonomy_http_request_duration_seconds_count"}
    assert "/v1/experiments/{id}" in routes
    assert "<unmatched>" in routes
    assert not any(r and "some-id" in r for r in routes)
    assert value(samples, "taskonomy_http_request_duration_seconds_count", method="GET",
                 route="/v1/experiments/{id}", status="404") >= 2


def test_every_exported_family_is_in_the_catalogue(gw: Live) -> None:
    r = redis.Redis.from_url(gw.settings.broker_url)
    record_job(r, kind="train", outcome="executed", seconds=1)
    with gw.client() as c:
        c.post("/v1/taxonomy", json={"table": "paper-base"})
    names = {name for (name, _) in scrape(gw)}
    taskonomy_names = {n for n in names if n.startswith("taskonomy_") and not n.endswith("_created")}
    assert taskonomy_names <= METRIC_NAMES, taskonomy_names - METRIC_NAMES
    for needed in ("taskonomy_queue_depth", "taskonomy_experiments", "taskonomy_jobs",
                   "taskonomy_job_duration_seconds_bucket", "taskonomy_http_request_duration_seconds_bucket",
                   "taskonomy_taxonomy_queries_total", "taskonomy_solver_request_duration_seconds_count"):
        assert needed in names, needed


def test_metrics_survive_redis_being_away(redis_server, solver_address: str, tmp_path) -> None:
    from services.gateway.app import create_app
    from services.gateway.server import BackgroundServer, free_port
    from tests.services.gateway._fixtures import make_settings

    settings = make_settings(f"redis://127.0.0.1:{free_port()}/0", solver_address, tmp_path)
    with BackgroundServer(create_app(settings)) as srv:
        import httpx

        with httpx.Client(base_url=srv.url, timeout=30) as c:
            assert c.get("/metrics").status_code == 200
            listed = c.get("/v1/experiments")
            ready = c.get("/readyz")
            health = c.get("/v1/health").json()
            scraped = c.get("/metrics").text
    assert listed.status_code == 503 and listed.headers["retry-after"]
    assert listed.headers["content-type"] == "application/problem+json"
    assert ready.status_code == 200, "a pod that serves stays in the Service while Redis is away"
    assert health["status"] == "degraded"
    assert health["dependencies"]["redis"]["up"] is False
    assert health["dependencies"]["redis"]["detail"].startswith("unavailable")
    up = {dict(s.labels)["dependency"]: s.value for f in text_string_to_metric_families(scraped)
          if f.name == "taskonomy_dependency_up" for s in f.samples}
    assert up == {"redis": 0.0, "solver": 1.0, "store": 1.0}


@pytest.mark.slow
def test_workers_are_counted_per_queue(redis_url: str, solver_address: str, tmp_path) -> None:
    """A real trainer worker beating in Redis shows up in taskonomy_workers on its queues; stopped
    cleanly (SIGTERM) it goes away at once and is not counted lost."""
    import time

    import httpx

    from services.gateway.app import create_app
    from services.gateway.server import BackgroundServer
    from tests.services.gateway._fixtures import make_settings
    from tests.services.workers._harness import Worker

    settings = make_settings(redis_url, solver_address, tmp_path)
    worker = Worker("trainer", broker_url=redis_url, log_path=tmp_path / "trainer.log",
                    env={"TASKONOMY_HEARTBEAT_SECONDS": "0.5"})

    def workers(c: httpx.Client) -> dict[str, float]:
        text = c.get("/metrics").text
        return {dict(s.labels).get("queue", "lost"): s.value for f in text_string_to_metric_families(text)
                if f.name in ("taskonomy_workers", "taskonomy_workers_lost") for s in f.samples}

    try:
        worker.wait_ready()
        with BackgroundServer(create_app(settings)) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
            deadline = time.monotonic() + 30
            seen: dict[str, float] = {}
            while time.monotonic() < deadline:
                seen = workers(c)
                if seen.get("train") == 1:
                    break
                time.sleep(0.2)
            assert seen == {"train": 1, "transfer": 0, "control": 1, "lost": 0}, seen
            worker.stop()
            assert workers(c) == {"train": 0, "transfer": 0, "control": 0, "lost": 0}
    finally:
        worker.kill()


def test_an_unknown_queue_depth_is_not_zero_while_redis_is_down(solver_address: str, tmp_path) -> None:
    """Redis stopped and started again under a running gateway: while it is down, /metrics says so
    (taskonomy_redis_up 0) and has no queue-depth or experiment samples; then both are back."""
    import httpx

    from services.gateway.app import create_app
    from services.gateway.server import BackgroundServer
    from tests.fixtures_redis import RedisServer
    from tests.services.gateway._fixtures import make_settings

    server = RedisServer(tmp_path / "redis")
    server.start()

    def scrape_text(c: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        resp = c.get("/metrics")
        assert resp.status_code == 200
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(resp.text) for s in family.samples}

    try:
        with BackgroundServer(create_app(make_settings(server.url, solver_address, tmp_path / "store"))) as srv, \
                httpx.Client(base_url=srv.url, timeout=30) as c:
            up = scrape_text(c)
            server.stop(kill=True)
            down = scrape_text(c)
            server.start()
            back = scrape_text(c)
    finally:
        server.stop()
    for samples, redis_up in ((up, 1.0), (back, 1.0)):
        assert samples[("taskonomy_redis_up", ())] == redis_up
        assert samples[("taskonomy_queue_depth", (("queue", "train"),))] == 0.0  # known to be empty
        assert ("taskonomy_experiments", (("state", "RUNNING"),)) in samples
    assert down[("taskonomy_redis_up", ())] == 0.0
    unknown = [k for k in down if k[0] in ("taskonomy_queue_depth", "taskonomy_experiments", "taskonomy_jobs")]
    assert unknown == [], unknown
