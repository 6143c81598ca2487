"""A tiny experiment through Redis and real trainer/transfer workers gives the local executor's table.

Same spec, same seeds, CPU with one torch thread on both sides: the numbers must be identical.
Then the same with an S3 store (moto on loopback), a corrupted artifact that must be recomputed,
and an added task that must run exactly the jobs the local executor runs for it (with three tasks,
planning runs and extends the graph with second-order transfers).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.queue.redisconn import redis_client
from services.queue.state import ExperimentStateStore
from services.queue.submission import submissions, submit
from taskonomy.store import ArtifactStore
from tests.services.workers._harness import (
    Worker,
    run_like_the_workers,
    running_workers,
    tiny_spec,
    wait_for,
    wait_terminal,
)
from tests.services.workers.write_counting import write_counts

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TINY: dict[str, Any] = tiny_spec("tiny", max_order=2)
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def _spec(data: dict[str, Any]) -> Any:
    from taskonomy.contract import ExperimentSpec

    return ExperimentSpec.parse(data)


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    for k, v in S3_ENV.items():
        os.environ.setdefault(k, v)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="artifacts")
    old = os.environ.get("TASKONOMY_S3_ENDPOINT")
    os.environ["TASKONOMY_S3_ENDPOINT"] = endpoint  # this process reads the store too
    yield endpoint
    if old is None:
        os.environ.pop("TASKONOMY_S3_ENDPOINT", None)
    else:
        os.environ["TASKONOMY_S3_ENDPOINT"] = old
    server.stop()


@pytest.fixture(scope="module")
def cluster(redis_server, s3: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Worker]]:
    env = {**S3_ENV, "TASKONOMY_S3_ENDPOINT": s3}
    with running_workers(redis_server.url, tmp_path_factory.mktemp("pipeline-worker-logs"), env=env) as ws:
        yield ws


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, ArtifactStore]:
    store = ArtifactStore(tmp_path_factory.mktemp("local-store"))
    graph, stats = run_like_the_workers(_spec(TINY), store)
    return graph, stats, store


def _run(state: ExperimentStateStore, spec: Any, *, broker_url: str, store_url: str) -> Any:
    exp_id = spec.content_key()
    submit(exp_id, spec.model_dump(mode="json"), broker_url=broker_url, store_url=store_url)
    rec = wait_terminal(state, exp_id, timeout=240)
    assert rec.state == "SUCCEEDED", rec.error
    return rec


def _read_like_a_local_run(exp_id: str, store_url: str, tmp_path: Path) -> None:
    """A worker-run experiment has its manifest in the store (issue 17, item 5): ``taskonomy models
    list`` and ``taskonomy predict --experiment <id> --store URL`` read it like a local run."""
    import json

    import numpy as np
    from PIL import Image
    from typer.testing import CliRunner

    from taskonomy.cli import build_app
    from taskonomy.modelbank import manifest_key

    assert ArtifactStore(store_url).get_json(manifest_key(exp_id))["id"] == exp_id
    listed = CliRunner().invoke(build_app(), ["models", "list", exp_id, "--store", store_url, "--json"])
    assert listed.exit_code == 0, listed.output
    models = json.loads(listed.stdout)["models"]
    assert {m["role"] for m in models} == {"task_specific", "transfer"}
    image = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(image)
    out = tmp_path / "pred"
    predicted = CliRunner().invoke(build_app(), ["predict", str(image), "--experiment", exp_id, "--store", store_url,
                                                 "--out", str(out)])
    assert predicted.exit_code == 0, predicted.output
    assert sorted(p.name for p in out.glob("*.png"))  # one picture per task


def _table(store: ArtifactStore, key: str) -> bytes:
    return store.get_bytes(key)


@pytest.mark.parametrize("backend", ["file", "s3"])
def test_queue_gives_the_local_table(backend, cluster, local, redis_url, tmp_path: Path) -> None:
    graph, stats, local_store = local
    state = ExperimentStateStore(redis_client(redis_url))
    store_url = str(tmp_path / "store") if backend == "file" else f"s3://artifacts/{tmp_path.name}"
    rec = _run(state, _spec(TINY), broker_url=redis_url, store_url=store_url)
    store = ArtifactStore(store_url)
    assert rec.result["transfers"] == graph.results["table"] and rec.result["store"] == store_url
    assert _table(store, rec.result["transfers"]) == _table(local_store, graph.results["table"])
    taxonomy, local_taxonomy = store.get_json(rec.result["taxonomy"]), local_store.get_json(graph.results["taxonomy"])
    for t in (taxonomy, local_taxonomy):
        t.pop("solve_time_s", None)  # wall time of the solver: the one field allowed to differ
    assert taxonomy == local_taxonomy
    assert rec.result["jobs"] == {"executed": len(stats.executed)}
    assert {s: p.done for s, p in rec.stages.items()} == {s: n for s, n in graph.stage_counts().items() if n}
    counts = write_counts(state.r)
    assert sorted(counts) == [k for k in store.list() if not k.startswith("experiments/")]
    assert set(counts.values()) == {1}

    if backend != "file":
        return
    _read_like_a_local_run(rec.id, store_url, tmp_path)
    # a corrupted artifact (one transfer's per-image losses) is detected and recomputed
    victim = next(j for j in graph.order() if j.kind == "transfer").outputs[0]
    path = Path(store.root) / victim
    path.write_bytes(path.read_bytes()[:-8] + b"garbage!")
    state.r.delete("taskonomy:writes")
    exp_id = _spec(TINY).content_key()
    submissions(redis_url).rerun(exp_id)  # the operator's re-run of a finished experiment
    rec = wait_for(lambda: (r := state.get(exp_id)) and r.state in ("SUCCEEDED", "FAILED") and r, timeout=240,
                   what="the re-run")
    assert rec.state == "SUCCEEDED", rec.error
    assert rec.result["jobs"] == {"executed": 1, "skipped": len(graph) - 1}
    from taskonomy.modelbank import transfer_weights_key

    counts = write_counts(state.r)  # the victim, and at most its job's other artifact (the transfer's weights)
    assert counts[victim] == 1 and set(counts) <= {victim, transfer_weights_key(victim)} and max(counts.values()) == 1
    store.get_bytes(victim)
    assert _table(store, rec.result["transfers"]) == _table(local_store, graph.results["table"])

    # adding a task runs exactly the jobs the local executor runs for the same extension
    bigger = _spec({**TINY, "tasks": [*TINY["tasks"], "normal"]})
    _, local_ext = run_like_the_workers(bigger, local_store)
    state.r.delete("taskonomy:writes")
    exp_id = _spec(TINY).content_key()
    state.reset_for_rerun(exp_id, bigger.model_dump(mode="json"))
    from services.queue.submission import client_app
    from services.queue.tasknames import RUN_EXPERIMENT

    client_app(redis_url).send_task(RUN_EXPERIMENT, args=[exp_id], queue="control")
    rec = wait_for(lambda: (r := state.get(exp_id)) and r.state in ("SUCCEEDED", "FAILED") and r, timeout=240,
                   what="the extended experiment")
    assert rec.state == "SUCCEEDED", rec.error
    assert rec.stages["plan"].done == 3 and rec.stages["higher_order"].done >= 1  # planning extended the graph
    assert rec.result["jobs"]["executed"] == len(local_ext.executed)
    assert rec.result["jobs"]["skipped"] == len(local_ext.skipped)
    assert _table(store, rec.result["transfers"]) == local_store.get_bytes(rec.result["transfers"])


def test_per_source_transfer_jobs_give_the_local_table(cluster, local, redis_url, tmp_path: Path) -> None:
    """``transfer_jobs: per-source`` on the workers: one fused job per source, the per-transfer table."""
    import io

    from taskonomy.affinity import TransferTable
    from taskonomy.contract import build_graph

    graph, _, local_store = local
    state = ExperimentStateStore(redis_client(redis_url))
    spec = _spec({**TINY, "transfer_jobs": "per-source"})
    grouped = build_graph(spec)
    n_groups = sum(j.kind == "transfer_group" for j in grouped.jobs.values())
    assert n_groups == len(TINY["tasks"]) + 1  # every task's encoder and the random one
    state.r.delete("taskonomy:writes")
    store_url = str(tmp_path / "store")
    rec = _run(state, spec, broker_url=redis_url, store_url=store_url)
    store = ArtifactStore(store_url)
    assert rec.result["transfers"] == graph.results["table"]  # the same results, under the same keys
    assert rec.stages["transfers"].done == n_groups
    table, ref = (TransferTable.read(io.StringIO(st.get_bytes(graph.results["table"]).decode()), format="csv")
                  for st in (store, local_store))
    assert [(r.target, r.sources, r.kind) for r in table.rows] == [(r.target, r.sources, r.kind) for r in ref.rows]
    for a, b in zip(table.rows, ref.rows, strict=True):
        assert a.affinity == pytest.approx(b.affinity, abs=1e-6)
    assert set(write_counts(state.r).values()) == {1}  # every artifact written once


@pytest.mark.parametrize("estimate", ["proxy", "halving"])
def test_the_affinity_estimates_run_on_the_workers(estimate, cluster, redis_url, tmp_path: Path) -> None:
    """``affinity.estimate`` is part of the spec, so the workers run it: the proxy estimate's one
    ``proxy_finalize`` job after the features, or halving's one ``transfer_halving`` job; the
    results are the local executor's."""
    from taskonomy.contract import build_graph

    spec = _spec({**tiny_spec("estimate", max_order=1), "affinity": {"estimate": estimate}})
    graph = build_graph(spec)
    local_store = ArtifactStore(tmp_path / "local")
    run_like_the_workers(spec, local_store)
    state = ExperimentStateStore(redis_client(redis_url))
    rec = _run(state, spec, broker_url=redis_url, store_url=str(tmp_path / "store"))
    store = ArtifactStore(str(tmp_path / "store"))
    assert rec.result["transfers"] == graph.results["table"]
    assert _table(store, graph.results["table"]) == _table(local_store, graph.results["table"])
    if estimate == "proxy":
        assert set(rec.stages) == {"render", "train", "features", "finalize"}
        assert store.get_bytes(rec.result["proxies"]) == local_store.get_bytes(graph.results["proxies"])
    else:
        assert rec.stages["transfers"].done == 1  # one transfer_halving job
