"""SIGTERM mid-job: a real worker hands its running job back to the queue within its short grace
period (instead of finishing a GPU job of hours), and another worker completes it.

Also the running marks the autoscaler counts (:mod:`services.queue.queues`): present while the
job runs, gone once it was handed back.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from services.queue.queues import queue_load, running_list
from services.queue.redisconn import redis_client
from services.queue.runbook import current_run
from services.queue.state import ExperimentStateStore
from services.queue.submission import submit
from taskonomy.store import ArtifactStore
from tests.services.workers._harness import Worker, noop_graph, wait_for, wait_terminal
from tests.services.workers.write_counting import write_counts

pytestmark = [pytest.mark.integration, pytest.mark.slow]

JOB_SECONDS = 12.0


def test_sigterm_mid_job_hands_the_job_back_and_another_worker_completes_it(redis_url: str, tmp_path: Path) -> None:
    state = ExperimentStateStore(redis_client(redis_url))
    r = state.r
    store_url = str(tmp_path / "store")
    env = {"TASKONOMY_SHUTDOWN_GRACE": "1", "TASKONOMY_LEASE_SECONDS": "30"}  # a lease that would not lapse soon
    first = Worker("trainer", broker_url=redis_url, log_path=tmp_path / "trainer1.log", env=env)
    second = None
    try:
        first.wait_ready()
        started = first.log_path.read_text()
        assert f"broker {redis_url}" in started  # it says where it connects
        assert "Warning" not in started  # no root warning (TASKONOMY_ALLOW_ROOT), no deprecation warning
        submit("h", noop_graph(1, seconds=JOB_SECONDS, queue_cycle=("train",), tag="h"), broker_url=redis_url,
               store_url=store_url)
        wait_for(lambda: r.llen(running_list("train")), timeout=30, what="the job to start")
        assert queue_load(r, ["train"])["train"] == {"waiting": 0, "running": 1, "load": 1}
        assert r.lrange(running_list("train"), 0, -1) == ["noop-h-0"]

        t0 = time.monotonic()
        os.kill(first.proc.pid, signal.SIGTERM)  # what Kubernetes sends the container's main process
        first.proc.wait(timeout=15)
        stopped_after = time.monotonic() - t0
        assert stopped_after < 8, stopped_after  # the grace (1 s) and a cold shutdown, not the job's 20 s
        assert not r.keys("taskonomy:lease:*")  # released: the next worker need not wait for it to lapse
        assert queue_load(r, ["train"])["train"] == {"waiting": 1, "running": 0, "load": 1}  # back in the queue
        run = current_run(r, "h")
        assert r.hget(f"taskonomy:run:h:{run}:attempts", "noop-h-0") == "0"  # a hand-back is no worker loss
        assert not ArtifactStore(store_url).exists("noop/h-0")

        second = Worker("trainer", broker_url=redis_url, log_path=tmp_path / "trainer2.log")
        second.wait_ready()
        rec = wait_terminal(state, "h", timeout=JOB_SECONDS + 30)
        assert rec.state == "SUCCEEDED", rec.error
        assert write_counts(r) == {"noop/h-0": 1}
        # a duplicate delivery (the message restored twice) finds the output and is skipped: the queue drains
        wait_for(lambda: queue_load(r, ["train"])["train"]["load"] == 0, timeout=20, what="the queue to drain")
        assert write_counts(r) == {"noop/h-0": 1}
        assert "the worker stops; the job goes back to its queue" in first.log_path.read_text()
    finally:
        for w in (first, second):
            if w is not None:
                w.stop()
