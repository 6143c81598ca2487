"""Model cards, weights downloads and predictions through the gateway: a real uvicorn server, the
session's redis-server (its own database), the tiny trained experiment's artifact store and, for
predictions, a real `taskonomy worker transfer` process that runs `taskonomy.predict`."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from services.gateway.app import create_app
from services.gateway.server import BackgroundServer
from taskonomy.training import network_from_bytes
from tests.services.gateway._fixtures import AUTH, make_settings, solver_address  # noqa: F401
from tests.unit.modelbank._experiment import MULTI_VIEW, SINGLE_VIEW, build_tiny

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: A database of its own, so other tests' flushes leave the experiment record and the queue alone.
DB = 7


@dataclass
class Bank:
    url: str
    ctx: Any
    exp_id: str
    run_dir: Path
    broker: str

    def client(self, *, auth: bool = False) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=AUTH if auth else {}, timeout=60)


def png(w: int, h: int, *, fmt: str = "PNG", seed: int = 0) -> bytes:
    arr = (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def register(ctx: Any, run_dir: Path, state: str = "SUCCEEDED") -> str:
    manifest = json.loads((run_dir / "experiment.json").read_text())
    exp_id = manifest["id"]
    ctx.state.create(exp_id, manifest["spec"])
    ctx.state.set_state(exp_id, state)
    ctx.state.set_result(exp_id, {"store": manifest["store"], **manifest["results"]})
    return exp_id


def start_bank(redis_server: Any, solver: str, base: Path, **overrides: Any) -> tuple[BackgroundServer, Any, str,
                                                                                     Path, str]:
    run_dir = build_tiny(base)
    store = json.loads((run_dir / "experiment.json").read_text())["store"]
    broker = redis_server.url.rsplit("/", 1)[0] + f"/{DB}"
    settings = make_settings(broker, solver, Path(store), **overrides)
    app = create_app(settings)
    srv = BackgroundServer(app)
    return srv, app.state.ctx, broker, run_dir, store


@pytest.fixture(scope="module")
def bank(redis_server: Any, solver_address: str, tmp_path_factory: pytest.TempPathFactory  # noqa: F811
         ) -> Iterator[Bank]:
    srv, ctx, broker, run_dir, _ = start_bank(redis_server, solver_address, tmp_path_factory.getbasetemp())
    with srv:
        exp_id = register(ctx, run_dir)
        yield Bank(url=srv.url, ctx=ctx, exp_id=exp_id, run_dir=run_dir, broker=broker)


def test_list_models_card_and_weights(bank: Bank) -> None:
    with bank.client() as c:
        r = c.get(f"/v1/experiments/{bank.exp_id}/models")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["experiment"] == bank.exp_id and body["count"] == len(body["models"]) > 0
        assert {m["role"] for m in body["models"]} == {"task_specific", "transfer"}
        for m in body["models"][:4]:
            card = c.get(m["links"]["self"])
            assert card.status_code == 200 and card.json()["sha256"] == m["sha256"]
            w = c.get(m["links"]["weights"])
            assert w.status_code == 200 and w.headers["content-type"] == "application/octet-stream"
            assert hashlib.sha256(w.content).hexdigest() == m["sha256"]
            assert ".safetensors" in w.headers["content-disposition"]
            assert network_from_bytes(w.content).task == m["task"]


def test_model_lookups_that_fail(bank: Bank) -> None:
    with bank.client() as c:
        assert c.get("/v1/experiments/nope/models").status_code == 404
        r = c.get("/v1/models/nets/nothing-here")
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
        assert c.get("/v1/models/nets/nothing-here/weights").status_code == 404
        # an artifact that is not a network (no card) is not downloadable
        data_key = next(k for k in bank.ctx.artifacts.list("data/"))
        assert c.get(f"/v1/models/{data_key}/weights").status_code == 404
        assert c.get("/v1/models/nets/a:b").status_code == 422


def test_upload_errors_are_problems(bank: Bank) -> None:
    url = f"/v1/experiments/{bank.exp_id}/predictions"
    with bank.client(auth=True) as c:
        cases = [
            (b"definitely not an image", "image/png", 415),
            (png(20, 20, fmt="GIF"), "image/gif", 415),
            (png(4, 4), "image/png", 422),
            (png(8, 5000), "image/png", 422),
            (b"{\"world_sample\": 999}", "application/json", 422),
            (b"{\"world_sample\": \"x\"}", "application/json", 422),
            (b"{not json", "application/json", 400),
        ]
        for body, ctype, status in cases:
            r = c.post(url, content=body, headers={"Content-Type": ctype})
            assert r.status_code == status, (status, r.text)
            assert r.headers["content-type"] == "application/problem+json" and r.json()["detail"]
        assert c.post("/v1/experiments/nope/predictions", content=png(16, 16)).status_code == 404
        assert c.post("/v1/predictions/" + "0" * 32).status_code == 405
        assert c.get("/v1/predictions/" + "0" * 32).status_code == 404
        assert c.get("/v1/predictions/not-an-id").status_code == 422
    with bank.client() as c:  # no token
        assert c.post(url, content=png(16, 16), headers={"Content-Type": "image/png"}).status_code == 401


def test_too_large_upload_is_413(redis_server: Any, solver_address: str,  # noqa: F811
                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    srv, ctx, _, run_dir, _ = start_bank(redis_server, solver_address, tmp_path_factory.getbasetemp(),
                                         max_body_bytes=4096)
    with srv:
        exp_id = register(ctx, run_dir)
        with httpx.Client(base_url=srv.url, headers=AUTH, timeout=30) as c:
            r = c.post(f"/v1/experiments/{exp_id}/predictions", content=png(200, 200),
                       headers={"Content-Type": "image/png"})
            assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"


def test_prediction_needs_a_finished_experiment(redis_server: Any, solver_address: str,  # noqa: F811
                                                tmp_path_factory: pytest.TempPathFactory) -> None:
    srv, ctx, _, run_dir, _ = start_bank(redis_server, solver_address, tmp_path_factory.getbasetemp())
    with srv:
        exp_id = register(ctx, run_dir, state="RUNNING")
        with httpx.Client(base_url=srv.url, headers=AUTH, timeout=30) as c:
            r = c.post(f"/v1/experiments/{exp_id}/predictions", content=png(16, 16),
                       headers={"Content-Type": "image/png"})
            assert r.status_code == 409 and "SUCCEEDED" in r.json()["detail"]
        register(ctx, run_dir)


def test_without_a_worker_a_prediction_stays_pending(bank: Bank) -> None:
    """Runs before the worker starts: the job waits in the transfer queue (the worker answers it later)."""
    with bank.client(auth=True) as c:
        r = c.post(f"/v1/experiments/{bank.exp_id}/predictions", params={"wait": 0.5}, content=png(16, 16),
                   headers={"Content-Type": "image/png"})
        assert r.status_code == 202 and r.headers["Retry-After"] == "1"
        assert r.json()["state"] == "PENDING" and r.json()["waiting_s"] >= 0.5
        again = c.get(r.headers["Location"])
        assert again.status_code == 202 and again.json()["id"] == r.json()["id"]
    import redis

    assert redis.Redis.from_url(bank.broker).llen("transfer") >= 1  # sent by name to the transfer queue


@pytest.fixture(scope="module")
def worker(bank: Bank, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.services.workers._harness import Worker

    w = Worker("transfer", broker_url=bank.broker, log_path=tmp_path_factory.mktemp("worker") / "transfer.log")
    try:
        w.wait_ready(timeout=90)
        yield w
    finally:
        w.stop()


def test_upload_prediction_through_a_real_worker(bank: Bank, worker: Any) -> None:
    with bank.client(auth=True) as c:
        r = c.post(f"/v1/experiments/{bank.exp_id}/predictions", content=png(61, 37, fmt="JPEG"),
                   headers={"Content-Type": "image/jpeg"})
        assert r.status_code == 202, r.text
        location = r.headers["Location"]
        assert r.json()["state"] == "PENDING"
        for _ in range(12):
            r = c.get(location, params={"wait": 10})
            if r.status_code == 200:
                break
            assert r.status_code == 202
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["state"] == "SUCCEEDED", result
        assert sorted(p["task"] for p in result["predictions"]) == sorted(SINGLE_VIEW)
        assert set(result["skipped"]) == set(MULTI_VIEW)  # multi-view tasks need more than one image
        for p in result["predictions"]:
            pic = c.get(p["url"])
            assert pic.status_code == 200 and pic.headers["content-type"] == "image/png"
            assert Image.open(io.BytesIO(pic.content)).format == "PNG"
        assert c.get(result["input_url"]).status_code == 200
        assert c.get(location.rstrip("/") + "/nothing.png").status_code == 404


def test_world_sample_prediction_with_ground_truth_and_a_short_wait(bank: Bank, worker: Any) -> None:
    with bank.client(auth=True) as c:
        r = c.post(f"/v1/experiments/{bank.exp_id}/predictions", params={"wait": 50, "transfers": True},
                   json={"world_sample": 1})
        if r.status_code == 202:  # a slow machine: poll on
            r = c.get(r.headers["Location"], params={"wait": 50})
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["state"] == "SUCCEEDED" and result["world_sample"] == 1
        tasks = {p["task"] for p in result["predictions"] if p["role"] == "task_specific"}
        assert set(result["ground_truth_urls"]) == tasks
        assert any(p["role"] == "transfer" for p in result["predictions"])
        for url in result["ground_truth_urls"].values():
            assert c.get(url).headers["content-type"] == "image/png"
