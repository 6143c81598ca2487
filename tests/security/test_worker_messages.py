"""Malformed and hostile messages on the workers' queues: a pickle-serialised task is refused
without being unpickled (its payload would create a directory), wrong arguments and unknown
experiments are logged and dropped, and the worker goes on to run a real experiment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.queue.redisconn import redis_client
from services.queue.state import ExperimentStateStore
from services.queue.submission import submit
from services.queue.tasknames import RUN_EXPERIMENT, RUN_JOB
from tests.services.workers._harness import Worker, noop_graph, wait_for, wait_terminal

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class Payload:
    """Unpickling this creates ``path`` (a harmless stand-in for running any code)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.mkdir, (self.path,)


def test_hostile_messages_are_refused_and_the_worker_goes_on(redis_url: str, tmp_path: Path) -> None:
    from celery import Celery

    sentinel = tmp_path / "unpickled"
    sender = Celery("hostile", broker=redis_url, set_as_current=False)
    sender.conf.update(task_serializer="pickle", accept_content=["pickle", "json"])
    worker = Worker("trainer", broker_url=redis_url, log_path=tmp_path / "trainer.log")
    state = ExperimentStateStore(redis_client(redis_url))
    try:
        worker.wait_ready()
        sender.send_task(RUN_JOB, args=["x", 1, Payload(str(sentinel)), "store"], queue="train", serializer="pickle")
        sender.send_task(RUN_EXPERIMENT, args=[Payload(str(sentinel))], queue="control", serializer="pickle")
        sender.send_task(RUN_JOB, args=[1], queue="train", serializer="json")  # wrong arity
        sender.send_task(RUN_JOB, args=[{"a": 1}, "run", [], None], queue="train", serializer="json")  # wrong types
        sender.send_task(RUN_EXPERIMENT, args=["no-such-experiment"], queue="control", serializer="json")
        sender.send_task("taskonomy.no_such_task", args=[], queue="train", serializer="json")
        wait_for(lambda: (tmp_path / "trainer.log").read_text().count("ContentDisallowed") >= 2
                 or (tmp_path / "trainer.log").read_text().count("untrusted content") >= 2,
                 timeout=30, what="the pickle messages to be refused")
        submit("after", noop_graph(3, chain=True, queue_cycle=("train",), tag="after"), broker_url=redis_url,
               store_url=str(tmp_path / "store"))
        rec = wait_terminal(state, "after", timeout=60)
        assert worker.proc.poll() is None  # still running
    finally:
        worker.stop()
        sender.close()
    log = (tmp_path / "trainer.log").read_text()
    assert rec.state == "SUCCEEDED", rec.error
    assert not sentinel.exists()  # nothing was unpickled
    assert "no experiment no-such-experiment" in log
    assert "taskonomy.no_such_task" in log  # an unknown task is logged and dropped
