"""A job that always fails (a permanent error, and a transient one that outlasts its retries) ends
its experiment FAILED with the error visible through the gateway and in the store's record, while
an experiment running beside it on the same workers succeeds with every artifact written once."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from services.gateway.app import create_app
from services.gateway.server import BackgroundServer
from services.queue.redisconn import redis_client
from services.queue.state import ExperimentStateStore
from services.queue.submission import submit
from taskonomy.store import ArtifactStore
from tests.services.gateway._fixtures import make_settings
from tests.services.workers._harness import noop_graph, running_workers, wait_terminal
from tests.services.workers.write_counting import write_counts

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_always_failing_jobs_fail_only_their_experiments(redis_url: str, solver_address: str,
                                                        tmp_path: Path) -> None:
    state = ExperimentStateStore(redis_client(redis_url))
    store_url = str(tmp_path / "store")
    with running_workers(redis_url, tmp_path):
        submit("good", noop_graph(8, seconds=0.2, tag="good"), broker_url=redis_url, store_url=store_url)
        submit("broken", noop_graph(3, chain=True, fail="model diverged: loss is NaN", tag="broken"),
               broker_url=redis_url, store_url=store_url)
        submit("flaky", noop_graph(2, chain=True, transient=99, tag="flaky"), broker_url=redis_url,
               store_url=store_url)
        recs = {e: wait_terminal(state, e, timeout=90) for e in ("good", "broken", "flaky")}
    assert recs["good"].state == "SUCCEEDED", recs["good"].error
    assert recs["broken"].state == "FAILED" and recs["flaky"].state == "FAILED"
    with BackgroundServer(create_app(make_settings(redis_url, solver_address, tmp_path / "store"))) as srv, \
            httpx.Client(base_url=srv.url, timeout=30) as c:
        broken, flaky, good = (c.get(f"/v1/experiments/{e}").json() for e in ("broken", "flaky", "good"))
        listed = {e["id"]: e["state"] for e in c.get("/v1/experiments").json()["items"]}
    assert broken["state"] == "FAILED" and "noop-broken-2" in broken["error"] and "loss is NaN" in broken["error"]
    assert flaky["state"] == "FAILED" and "after 2 retries" in flaky["error"] and "transient" in flaky["error"]
    assert good["state"] == "SUCCEEDED" and good["error"] is None
    assert listed == {"good": "SUCCEEDED", "broken": "FAILED", "flaky": "FAILED"}
    store = ArtifactStore(store_url)
    assert "loss is NaN" in store.get_json("experiments/broken/record.json")["error"]
    # nothing lost of the good experiment, nothing half-written by the failing ones
    good_keys = store.list("noop/good")
    assert good_keys == sorted(f"noop/good-{i}" for i in range(8))
    assert all(store.verify(k) for k in store.list("noop"))
    assert store.list("noop/broken") == ["noop/broken-0", "noop/broken-1"]
    assert store.list("noop/flaky") == ["noop/flaky-0"]
    assert set(write_counts(state.r).values()) == {1}
