"""The artifact store (S3 on a moto server, reached through a TCP proxy that the test cuts) goes
away for a few seconds mid-experiment and comes back on the same port: the workers retry the
transient errors with backoff, the experiment succeeds, and every artifact is in the bucket
exactly once with a valid checksum (no partial or temporary object)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.gateway.server import free_port
from services.queue.redisconn import redis_client
from services.queue.state import ExperimentStateStore
from services.queue.submission import submit
from taskonomy.store import ArtifactStore
from tests.reliability._tcp_proxy import TcpProxy
from tests.services.workers._harness import noop_graph, running_workers, wait_for, wait_terminal
from tests.services.workers.write_counting import write_counts

pytestmark = [pytest.mark.integration, pytest.mark.slow]

S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
OUTAGE_S = 10.0
#: The workers' retries with backoff 0.5, 1, 2, 2, ... s: about 17 s of outage tolerated (production: 2 s
#: doubling, 5 retries). botocore's own retries are turned off (AWS_MAX_ATTEMPTS=1): with its default
#: jittered backoff they alone may ride out a 10 s outage (up to ~15 s), and the workers' retry path is
#: what this test is about.
RETRY_ENV = {"TASKONOMY_MAX_RETRIES": "10", "TASKONOMY_RETRY_BACKOFF": "1", "TASKONOMY_RETRY_BACKOFF_MAX": "2",
             "AWS_MAX_ATTEMPTS": "1"}


class Moto:
    """A moto S3 server on a fixed loopback port that can be stopped and started again (moto keeps
    its buckets in this process, so they survive)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server: object | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        server.start()
        self.server = server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()  # type: ignore[attr-defined]
            self.server = None


@pytest.fixture()
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[Moto]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    for k, v in S3_ENV.items():
        monkeypatch.setenv(k, v)
    server = Moto()
    server.start()
    monkeypatch.setenv("TASKONOMY_S3_ENDPOINT", server.endpoint)
    import boto3

    boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1").create_bucket(Bucket="artifacts")
    yield server
    server.stop()


def test_store_unavailable_mid_experiment_is_retried_and_nothing_is_lost(moto: Moto, redis_url: str,
                                                                         tmp_path: Path) -> None:
    state = ExperimentStateStore(redis_client(redis_url))
    store_url = "s3://artifacts/outage"
    # Stopping moto itself would leave the workers' keep-alive connections served: cut a proxy instead.
    proxy = TcpProxy(moto.port)
    proxy.start()
    env = {**S3_ENV, **RETRY_ENV, "TASKONOMY_S3_ENDPOINT": proxy.endpoint}
    n = 10
    try:
        with running_workers(redis_url, tmp_path, env=env):
            submit("outage", noop_graph(n, seconds=0.3, chain=True, tag="o"), broker_url=redis_url,
                   store_url=store_url)
            wait_for(lambda: (r := state.get("outage")) and r.stages.get("noop") and r.stages["noop"].done >= 2,
                     timeout=60, what="two jobs to finish")
            done_at_stop = state.get("outage").stages["noop"].done  # type: ignore[union-attr]
            proxy.cut()
            t0 = time.monotonic()
            time.sleep(OUTAGE_S)
            done_in_outage = state.get("outage").stages["noop"].done  # type: ignore[union-attr]
            proxy.restore()
            outage = time.monotonic() - t0
            rec = wait_terminal(state, "outage", timeout=120)
    finally:
        proxy.cut()
    logs = "".join((tmp_path / f"{k}.log").read_text() for k in ("trainer", "transfer"))
    assert rec.state == "SUCCEEDED", rec.error
    assert "transient error" in logs  # the outage was seen, and retried
    assert done_in_outage <= done_at_stop + 1 < n  # no progress without the store (one job may have been ending)
    store = ArtifactStore(store_url)
    keys = store.list("noop")
    assert keys == sorted(f"noop/o-{i}" for i in range(n))
    for k in keys:
        assert store.verify(k), k
    assert write_counts(state.r) == dict.fromkeys(keys, 1)
    import boto3

    objects = boto3.client("s3", endpoint_url=moto.endpoint, region_name="us-east-1").list_objects_v2(
        Bucket="artifacts", Prefix="outage/noop/")
    names = sorted(o["Key"] for o in objects.get("Contents", []))
    assert names == sorted([f"outage/{k}" for k in keys] + [f"outage/{k}.meta.json" for k in keys])
    print(f"store outage of {outage:.1f} s: {logs.count('transient error')} retries, nothing lost")
