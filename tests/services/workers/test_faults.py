"""Fault tests: a worker killed with SIGKILL mid-job, and Redis restarted (AOF) mid-experiment.

Both must end with the experiment SUCCEEDED and every artifact present, valid, and written
exactly once (real writes are counted in Redis by the workers' store).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from services.queue.redisconn import redis_client
from services.queue.state import ExperimentStateStore
from services.queue.submission import submit
from taskonomy.store import ArtifactStore
from tests.fixtures_redis import RedisServer
from tests.services.workers._harness import Worker, noop_graph, running_workers, wait_for, wait_terminal
from tests.services.workers.write_counting import write_counts

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _check_exactly_once(state: ExperimentStateStore, store_url: str, n: int) -> None:
    store = ArtifactStore(store_url)
    keys = store.list("noop")
    assert len(keys) == n
    for k in keys:
        store.get_json(k)  # checksum verified
    assert write_counts(state.r) == dict.fromkeys(keys, 1)
    assert not [p for p in Path(store.root).rglob("*") if ".tmp-" in p.name]


def test_kill_9_a_worker_mid_job_redelivers_and_writes_once(redis_url: str, tmp_path: Path) -> None:
    state = ExperimentStateStore(redis_client(redis_url))
    store_url = str(tmp_path / "store")
    store = ArtifactStore(store_url)
    trainer = Worker("trainer", broker_url=redis_url, log_path=tmp_path / "trainer1.log")
    transfer = Worker("transfer", broker_url=redis_url, log_path=tmp_path / "transfer.log")
    replacement = None

    def running_after(n_done: int) -> str:
        """Wait until n_done jobs finished and another one is running; return its id."""
        leases = wait_for(lambda: (r := state.get("k")) and r.stages.get("noop") and r.stages["noop"].done >= n_done
                          and state.r.keys("taskonomy:lease:*"), timeout=60, what=f"job {n_done + 1} to run")
        return str(leases[0]).split(":")[-1]

    try:
        trainer.wait_ready()
        transfer.wait_ready()
        # 6 jobs of 1.5 s, all on the train queue: only the trainer runs them
        submit("k", noop_graph(6, seconds=1.5, queue_cycle=("train",), tag="k"), broker_url=redis_url,
               store_url=store_url)
        # 1. SIGKILL the pool process only: the worker rejects the job back to the queue at once
        job = running_after(1)
        trainer.kill_pool()
        assert not store.exists(f"noop/{job.removeprefix('noop-')}")
        # 2. SIGKILL the whole worker (main process and pool): Redis redelivers after the visibility timeout
        job = running_after(3)
        trainer.kill()
        assert not store.exists(f"noop/{job.removeprefix('noop-')}")
        replacement = Worker("trainer", broker_url=redis_url, log_path=tmp_path / "trainer2.log")
        rec = wait_terminal(state, "k", timeout=90)
        assert rec.state == "SUCCEEDED", rec.error
        assert rec.stages["noop"].done == 6
        _check_exactly_once(state, store_url, 6)
        assert "WorkerLostError" in trainer.log_path.read_text()
    finally:
        for w in (trainer, transfer, replacement):
            if w is not None:
                w.stop()


def test_redis_restart_with_aof_mid_experiment_completes(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", appendonly=True)
    server.start()
    state = ExperimentStateStore(redis_client(server.url))
    store_url = str(tmp_path / "store")
    try:
        with running_workers(server.url, tmp_path):
            submit("aof", noop_graph(8, seconds=0.5, chain=True, tag="aof"), broker_url=server.url,
                   store_url=store_url)
            wait_for(lambda: (r := state.get("aof")) and r.stages.get("noop") and r.stages["noop"].done >= 2,
                     timeout=60, what="two jobs to finish")
            server.stop()  # SIGTERM: Redis writes its AOF and exits
            server.start()  # same port, same data directory: the queues and the state are back
            rec = wait_terminal(state, "aof", timeout=120)
            assert rec.state == "SUCCEEDED", rec.error
            assert rec.stages["noop"].done == 8
            _check_exactly_once(state, store_url, 8)
        # the workers reconnected without Celery's warnings (deliberate settings, see celery_app)
        logs = "".join((tmp_path / f"{kind}.log").read_text() for kind in ("trainer", "transfer"))
        assert "Connection to broker lost" in logs or "Cannot connect" in logs or "reconnect" in logs.lower()
        assert "Warning" not in logs, [line for line in logs.splitlines() if "Warning" in line]
    finally:
        server.stop()


def test_time_limits_fail_the_experiment(redis_url: str, tmp_path: Path) -> None:
    state = ExperimentStateStore(redis_client(redis_url))
    store_url = str(tmp_path / "store")
    env = {"TASKONOMY_SOFT_TIME_LIMIT": "1", "TASKONOMY_TIME_LIMIT": "2", "TASKONOMY_QUEUES": "train,control"}
    worker = Worker("trainer", broker_url=redis_url, log_path=tmp_path / "trainer.log", env=env)
    try:
        worker.wait_ready()
        submit("soft", noop_graph(1, seconds=30, queue_cycle=("train",), tag="soft"), broker_url=redis_url,
               store_url=store_url)
        stubborn = noop_graph(1, seconds=30, queue_cycle=("train",), tag="hard")
        stubborn["jobs"][0]["params"]["stubborn"] = True
        submit("hard", stubborn, broker_url=redis_url, store_url=store_url)
        soft = wait_terminal(state, "soft", timeout=60)
        assert soft.state == "FAILED" and "SoftTimeLimitExceeded" in (soft.error or "")
        hard = wait_terminal(state, "hard", timeout=60)
        assert hard.state == "FAILED" and "exceeded the hard time limit of 2 s" in (hard.error or "")
        assert not ArtifactStore(store_url).list("noop")
    finally:
        worker.stop()


def test_a_lost_message_is_sent_again_and_the_experiment_completes(redis_url: str, tmp_path: Path) -> None:
    """A job's message disappears from the broker (as when kombu's Redis transport has popped it and
    the worker dies before recording it as unacknowledged): the workers' sweep sends it again."""
    state = ExperimentStateStore(redis_client(redis_url))
    store_url = str(tmp_path / "store")
    transfer = Worker("transfer", broker_url=redis_url, log_path=tmp_path / "transfer.log")
    trainer = None
    try:
        transfer.wait_ready()  # runs the control task: the chain's first job goes to the train queue
        submit("lost", noop_graph(3, chain=True, queue_cycle=("train",), tag="lost"), broker_url=redis_url,
               store_url=store_url)
        wait_for(lambda: state.r.llen("train") == 1, timeout=30, what="the first job's message")
        assert state.r.delete("train") == 1  # the message is gone; no worker will ever see it
        trainer = Worker("trainer", broker_url=redis_url, log_path=tmp_path / "trainer.log")
        trainer.wait_ready()
        rec = wait_terminal(state, "lost", timeout=60)
        assert rec.state == "SUCCEEDED", rec.error
        _check_exactly_once(state, store_url, 3)
        logs = trainer.log_path.read_text() + transfer.log_path.read_text()
        assert "noop-lost-0 (noop) was sent" in logs and "sending it again" in logs
        resent = [e for e in state.events("lost") if e["event"] == "job_resent"]
        assert [e["job"] for e in resent] == ["noop-lost-0"] and rec.jobs_restored == 1
    finally:
        for w in (transfer, trainer):
            if w is not None:
                w.stop()
