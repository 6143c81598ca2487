"""Jobs through real Redis and real worker processes (`taskonomy worker trainer|transfer`).

Synthetic no-op jobs (each writes one small artifact) keep these fast; the pipeline's own jobs
go through the same path in test_pipeline_queue.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.queue.job_metrics import RedisJobMetricsCollector
from services.queue.redisconn import redis_client
from services.queue.state import ExperimentStateStore
from services.queue.submission import cancel_experiment, submissions, submit
from taskonomy.store import ArtifactStore
from tests.services.workers._harness import Worker, noop_graph, running_workers, wait_for, wait_terminal
from tests.services.workers.write_counting import write_counts

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def workers(redis_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Worker]]:
    with running_workers(redis_server.url, tmp_path_factory.mktemp("worker-logs")) as ws:
        yield ws


@pytest.fixture()
def state(redis_url: str, workers: list[Worker]) -> ExperimentStateStore:
    return ExperimentStateStore(redis_client(redis_url))


def test_fan_out_and_chain_complete_with_each_artifact_written_once(state, redis_url, tmp_path: Path) -> None:
    store_url = str(tmp_path / "store")
    submit("fan", noop_graph(12, tag="fan"), broker_url=redis_url, store_url=store_url)
    submit("chain", noop_graph(6, chain=True, tag="chain"), broker_url=redis_url, store_url=store_url)
    for exp_id, n in (("fan", 12), ("chain", 6)):
        rec = wait_terminal(state, exp_id, timeout=60)
        assert rec.state == "SUCCEEDED", rec.error
        assert rec.stages["noop"].total == n and rec.stages["noop"].done == n
        assert rec.result["jobs"] == {"executed": n}
    store = ArtifactStore(store_url)
    keys = store.list("noop")
    assert len(keys) == 18
    assert all(store.get_json(k)["job"].startswith("noop-") for k in keys)
    assert write_counts(state.r) == dict.fromkeys(keys, 1)
    assert store.get_json("experiments/fan/record.json")["state"] == "SUCCEEDED"  # the record, in the store too
    # the chain ran in order: each job was sent only after its predecessor finished
    times = [store.fs.info(store._path(f"noop/chain-{i}"))["mtime"] for i in range(6)]
    assert times == sorted(times)
    # submitting it again sends nothing; re-running it computes nothing
    assert submit("fan", noop_graph(12, tag="fan"), broker_url=redis_url, store_url=store_url) == ("fan", False)
    submissions(redis_url).rerun("fan")
    rec = wait_for(lambda: (r := state.get("fan")) and r.state == "SUCCEEDED" and r.result.get("run") == 2 and r,
                   timeout=60, what="the rerun")
    assert rec.result["jobs"] == {"skipped": 12}
    assert write_counts(state.r) == dict.fromkeys(keys, 1)


def test_job_metrics_reach_the_collector_through_redis(state, redis_url, tmp_path: Path) -> None:
    submit("m", noop_graph(5, tag="m"), broker_url=redis_url, store_url=str(tmp_path / "s"))
    assert wait_terminal(state, "m", timeout=60).state == "SUCCEEDED"
    families = {f.name: f for f in RedisJobMetricsCollector(redis_url).collect()}
    finished = {(s.labels["kind"], s.labels["outcome"]): s.value for s in families["taskonomy_jobs_finished"].samples
                if s.name == "taskonomy_jobs_finished_total"}
    assert finished == {("other", "executed"): 5.0}  # a plugin's job kind is labelled "other"
    count = [s.value for s in families["taskonomy_job_duration_seconds"].samples
             if s.name == "taskonomy_job_duration_seconds_count" and s.labels["kind"] == "other"]
    assert count == [5.0]


def test_a_failing_job_fails_only_its_experiment(state, redis_url, tmp_path: Path) -> None:
    store_url = str(tmp_path / "store")
    submit("bad", noop_graph(3, chain=True, fail="the disk is full of lava", tag="bad"), broker_url=redis_url,
           store_url=store_url)
    submit("good", noop_graph(4, tag="good"), broker_url=redis_url, store_url=store_url)
    bad = wait_terminal(state, "bad", timeout=60)
    assert bad.state == "FAILED"
    assert "noop-bad-2" in (bad.error or "") and "the disk is full of lava" in (bad.error or "")
    assert bad.stages["noop"].failed == 1 and bad.stages["noop"].done == 2
    assert "lava" in ArtifactStore(store_url).get_json("experiments/bad/record.json")["error"]
    assert wait_terminal(state, "good", timeout=60).state == "SUCCEEDED"


def test_transient_storage_errors_are_retried_with_backoff(state, redis_url, tmp_path: Path) -> None:
    store_url = str(tmp_path / "store")
    submit("flaky", noop_graph(2, chain=True, transient=2, tag="flaky"), broker_url=redis_url, store_url=store_url)
    submit("broken", noop_graph(2, chain=True, transient=3, tag="broken"), broker_url=redis_url, store_url=store_url)
    flaky = wait_terminal(state, "flaky", timeout=60)
    assert flaky.state == "SUCCEEDED", flaky.error  # two failures, two retries (TASKONOMY_MAX_RETRIES=2)
    assert write_counts(state.r)["noop/flaky-1"] == 1
    broken = wait_terminal(state, "broken", timeout=60)
    assert broken.state == "FAILED"
    assert "after 2 retries" in (broken.error or "") and "simulated transient storage error" in (broken.error or "")
    # each retry is an event of the experiment, counted on its record
    retried = [e for e in state.events("flaky") if e["event"] == "job_retried"]
    assert [(e["job"], e["retry"]) for e in retried] == [("noop-flaky-1", 1), ("noop-flaky-1", 2)]
    assert "simulated transient storage error" in retried[0]["error"]
    assert flaky.jobs_retried == 2 and broken.jobs_retried == 2
    assert [e["event"] for e in state.events("broken")][-1] == "failed"


def test_cancel_stops_dispatching(state, redis_url, tmp_path: Path) -> None:
    store_url = str(tmp_path / "store")
    submit("c", noop_graph(20, seconds=0.2, chain=True, tag="c"), broker_url=redis_url, store_url=store_url)
    wait_for(lambda: (r := state.get("c")) and r.stages.get("noop") and r.stages["noop"].done >= 2, timeout=60,
             what="two jobs to finish")
    assert cancel_experiment(state, "c") == "CANCELLING"
    rec = wait_terminal(state, "c", timeout=30)
    assert rec.state == "CANCELLED"
    assert rec.stages["noop"].done < 20
    assert len(ArtifactStore(store_url).list("noop")) < 20


def _cli(*args: str) -> Any:
    from typer.testing import CliRunner

    from taskonomy.cli import build_app

    return CliRunner().invoke(build_app(), list(args))


def test_cli_submit_and_status(state, redis_url, tmp_path: Path) -> None:
    spec = tmp_path / "exp.json"
    spec.write_text(json.dumps({"name": "cli", "tasks": ["autoencoding", "depth_zbuffer"],
                                "splits": {"train": 4, "transfer": 4, "test": 2}}))
    bad = _cli("submit", str(tmp_path / "missing.yaml"), "--broker", redis_url, "--store", str(tmp_path / "s"))
    assert bad.exit_code == 2 and "does not exist" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    unreachable = _cli("status", "x", "--broker", "redis://127.0.0.1:1/0")
    assert unreachable.exit_code == 2 and "cannot reach the broker" in unreachable.stderr
    unknown = _cli("status", "nope", "--broker", redis_url)
    assert unknown.exit_code == 2 and "no experiment 'nope'" in unknown.stderr
    # a real submission: the record is created under the spec's content key and run_experiment is sent
    out = _cli("submit", str(spec), "--broker", redis_url, "--store", str(tmp_path / "s"))
    assert out.exit_code == 0, out.stderr
    exp_id = out.stdout.strip()
    human = _cli("status", exp_id, "--broker", redis_url)
    assert human.exit_code == 0 and human.stdout.startswith(exp_id)
    from taskonomy.contract import ExperimentSpec

    assert exp_id == ExperimentSpec.from_file(spec).content_key()
    status = _cli("status", exp_id, "--broker", redis_url, "--json")
    assert status.exit_code == 0, status.stderr
    info = json.loads(status.stdout)
    assert info["id"] == exp_id and info["state"] in ("PENDING", "RUNNING", "SUCCEEDED", "FAILED")
    cancel_experiment(state, exp_id)  # don't leave a real training running in the shared workers
    assert wait_terminal(state, exp_id, timeout=120).state in ("CANCELLED", "SUCCEEDED")


def test_an_input_corrupted_mid_experiment_is_recomputed_before_its_reader_runs(state, redis_url, workers,
                                                                                tmp_path: Path) -> None:
    store_url = str(tmp_path / "store")
    graph = noop_graph(3, chain=True, tag="cor", queue_cycle=("train",))
    for i, job in enumerate(graph["jobs"]):
        job["inputs"] = [f"noop/cor-{i - 1}"] if i else []
    graph["jobs"][1]["params"]["seconds"] = 2.0  # reads its input after 2 s: time to corrupt it
    submit("cor", graph, broker_url=redis_url, store_url=store_url)
    wait_for(lambda: (r := state.get("cor")) and r.stages.get("noop") and r.stages["noop"].done >= 1,
             timeout=60, what="the first job")
    victim = Path(store_url) / "noop" / "cor-0"
    victim.write_bytes(victim.read_bytes().replace(b"cor-0", b"XXXXX"))
    rec = wait_terminal(state, "cor", timeout=60)
    assert rec.state == "SUCCEEDED", rec.error
    store = ArtifactStore(store_url)
    assert [store.get_json(f"noop/cor-{i}")["job"] for i in range(3)] == ["noop-cor-0", "noop-cor-1", "noop-cor-2"]
    counts = {k: n for k, n in write_counts(state.r).items() if k.startswith("noop/cor")}
    assert counts == {"noop/cor-0": 2, "noop/cor-1": 1, "noop/cor-2": 1}
    assert rec.stages["noop"].done == 3  # the recomputed job is not counted twice
    assert "recomputing them first" in workers[0].log_path.read_text()
