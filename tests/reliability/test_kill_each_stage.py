"""kill -9 of the workers during each stage of a real (tiny) experiment, and kill -9 of Redis
(append-only file on, as the chart and compose file run it) in the middle of one.

One experiment runs on a trainer and a transfer worker; whenever the first job of a stage not
yet hit holds its lease (it is running), both workers are killed with SIGKILL (process group:
main process and pool child) and fresh ones are started. The experiment must still succeed with
the undisturbed local run's table and taxonomy, every artifact present once (written once,
counted by the workers' store) with a valid checksum, and nothing else in the store.

All stages are hit in one run (one kill per stage) to keep CI time bounded: the kills are
independent, since each one's redelivery finishes before the next stage starts.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from services.queue.redisconn import redis_client
from services.queue.runbook import RunBook, current_run
from services.queue.state import ExperimentStateStore
from services.queue.submission import submit
from taskonomy.store import ArtifactStore
from tests.fixtures_redis import RedisServer
from tests.reliability.conftest import RELIABILITY_SPEC, check_nothing_lost
from tests.services.workers._harness import Worker, running_workers, wait_for, wait_terminal

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SPEC: dict[str, Any] = RELIABILITY_SPEC
#: Stages whose jobs run long enough (on 2 shared cores) that a kill always lands mid-stage.
MUST_HIT = {"render", "train", "features", "transfers", "baselines"}


def _running_stage(state: ExperimentStateStore, exp_id: str) -> list[tuple[str, str, list[str]]]:
    """(stage, job id, outputs) of every job holding a lease now."""
    run = current_run(state.r, exp_id)
    if run is None:
        return []
    book = RunBook(state.r, exp_id, run)
    out = []
    for key in state.r.keys("taskonomy:lease:*"):
        job = book.job(key.split(":")[-1])
        if job is not None:
            out.append((job["stage"], job["id"], job["outputs"]))
    return out


def test_kill_9_workers_in_every_stage_loses_and_duplicates_nothing(
        reference: tuple[Any, ArtifactStore], redis_url: str, tmp_path: Path) -> None:
    from taskonomy.contract import ExperimentSpec

    graph, reference_store = reference
    stages = {s for s, n in graph.stage_counts().items() if n}
    spec = ExperimentSpec.parse(SPEC)
    exp_id = spec.content_key()
    state = ExperimentStateStore(redis_client(redis_url))
    store_url = str(tmp_path / "store")
    generation = 0

    def start_workers() -> list[Worker]:
        ws = [Worker(k, broker_url=redis_url, log_path=tmp_path / f"{k}-{generation}.log")
              for k in ("trainer", "transfer")]
        for w in ws:
            w.wait_ready()
        return ws

    workers = start_workers()
    killed: dict[str, tuple[str, bool]] = {}  # stage -> (job id, its outputs existed at the kill)
    store = ArtifactStore(store_url)
    try:
        submit(exp_id, spec.model_dump(mode="json"), broker_url=redis_url, store_url=store_url)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            rec = state.get(exp_id)
            if rec is not None and rec.state in ("SUCCEEDED", "FAILED", "CANCELLED"):
                break
            hit = [(s, j, outs) for s, j, outs in _running_stage(state, exp_id) if s not in killed]
            if not hit:
                time.sleep(0.01)
                continue
            stage, job_id, outputs = hit[0]
            for w in workers:
                w.kill()  # SIGKILL the whole process group, mid-job
            killed[stage] = (job_id, all(store.exists(k) for k in outputs))
            for w in workers:
                w.stop()
            generation += 1
            workers = start_workers()
        rec = wait_terminal(state, exp_id, timeout=120)
    finally:
        for w in workers:
            w.stop()
    assert rec.state == "SUCCEEDED", rec.error
    print(f"killed in stages: { {s: j for s, (j, _) in killed.items()} }")
    assert MUST_HIT <= set(killed) <= stages, (sorted(killed), sorted(stages))
    assert not all(done for _, done in killed.values())  # at least one kill interrupted a job's writes

    check_nothing_lost(rec, graph, reference_store, store, state.r)


def test_kill_9_redis_mid_experiment_with_aof_loses_nothing(reference: tuple[Any, ArtifactStore],
                                                           tmp_path: Path) -> None:
    """Redis killed with SIGKILL while transfers run, restarted on the same port from its AOF
    (``--appendfsync everysec`` like the chart: every acknowledged write is in the kernel's page
    cache, so a process crash loses none)."""
    from taskonomy.contract import ExperimentSpec

    graph, reference_store = reference
    server = RedisServer(tmp_path / "redis", appendonly=True)
    server.start()
    spec = ExperimentSpec.parse(SPEC)
    exp_id = spec.content_key()
    state = ExperimentStateStore(redis_client(server.url))
    store_url = str(tmp_path / "store")
    try:
        with running_workers(server.url, tmp_path):
            submit(exp_id, spec.model_dump(mode="json"), broker_url=server.url, store_url=store_url)
            wait_for(lambda: any(s == "transfers" for s, _, _ in _running_stage(state, exp_id)), timeout=240,
                     what="a transfer job to run", interval=0.02)
            server.stop(kill=True)  # SIGKILL: no shutdown, no final AOF rewrite
            time.sleep(1.0)
            server.start()  # same port, same directory: replays the AOF
            rec = wait_terminal(state, exp_id, timeout=240)
            assert rec.state == "SUCCEEDED", rec.error
            check_nothing_lost(rec, graph, reference_store, ArtifactStore(store_url), state.r)
    finally:
        server.stop()
