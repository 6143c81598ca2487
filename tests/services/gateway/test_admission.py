"""What the gateway admits (issue 17, items 3, 4 and 7): the whole spec validated at submission
(422 problem+json naming each field by its ``loc``, exactly as strict as the core's
``ExperimentSpec``), the operator's size bounds and dataset roots, a store that can be written,
and settings (broker, store URL) checked when the gateway starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from services.gateway.app import create_app
from services.gateway.server import BackgroundServer
from taskonomy.cli import build_app
from taskonomy.contract import ExperimentSpec
from taskonomy.errors import InvalidInputError
from tests.services.gateway._fixtures import AUTH, Live, make_settings

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
TASKS = ["normal", "depth_zbuffer"]
SPLITS = {"train": 8, "transfer": 4, "test": 4}

#: Specs the core refuses today or once its configs are typed (issue 18): the door follows the core.
BAD_SPECS: list[dict[str, Any]] = [
    {"preset": "quick", "model": {"width": "huge", "nonsense": 1}},
    {"preset": "quick", "transfer": {"lr": 100, "weight_decay": 50}},
    {"preset": "quick", "train": {"epochs": 0}},
    {"preset": "quick", "nonsense": True},
    {"tasks": ["teleportation"], "splits": SPLITS},
    {"tasks": TASKS},
    {"preset": "cosmic"},
]


def _core_locs(body: dict[str, Any]) -> list[list[str]] | None:
    """The fields the core's spec refuses in ``body`` (None: it accepts it)."""
    try:
        ExperimentSpec.from_mapping(body)
    except InvalidInputError as exc:
        cause = exc.__context__
        return [[str(p) for p in e["loc"]] for e in cause.errors()] if isinstance(cause, ValidationError) else []
    return None


@pytest.mark.parametrize("body", BAD_SPECS, ids=lambda b: ",".join(sorted(b)))
def test_the_door_is_exactly_as_strict_as_the_core_spec(gw: Live, body: dict[str, Any]) -> None:
    with gw.client(auth=True) as c:
        resp = c.post("/v1/experiments", json=body)
    locs = _core_locs(body)
    if locs is None:  # the core accepts it (an untyped block, before the typed spec lands): so does the door
        assert resp.status_code == 202, resp.text
        return
    assert resp.status_code == 422, resp.text
    problem = resp.json()
    assert resp.headers["content-type"] == PROBLEM and problem["type"].endswith(":validation")
    assert [e["loc"] for e in problem["errors"]] == locs or (locs == [] and problem["errors"])
    for loc in locs:
        assert ".".join(loc) in problem["detail"]


def test_sizes_are_bounded_and_folder_datasets_need_an_allowed_root(gw: Live) -> None:
    with gw.client(auth=True) as c:
        huge = c.post("/v1/experiments", json={"preset": "quick", "splits": {"train": 1e9}})
        folder = c.post("/v1/experiments", json={"dataset": {"kind": "folder", "root": "/etc"}, "tasks": TASKS,
                                                 "splits": SPLITS})
        listed = c.get("/v1/experiments").json()["count"]
    assert huge.status_code == 422, huge.text
    assert [e["loc"] for e in huge.json()["errors"]] == [["splits", "train"]]
    assert "TASKONOMY_MAX_SPLIT_IMAGES" in huge.json()["detail"]
    assert folder.status_code == 422, folder.text
    assert [e["loc"] for e in folder.json()["errors"]] == [["dataset", "root"]]
    assert "TASKONOMY_DATASET_ROOTS" in folder.json()["detail"]
    assert listed == 0  # nothing was created


def test_folder_datasets_from_the_allowed_roots_only(redis_url: str, solver_address: str, tmp_path: Path) -> None:
    settings = make_settings(redis_url, solver_address, tmp_path / "store", dataset_roots="/data/taskonomy,/mnt/ds",
                             max_split_images=100)
    with BackgroundServer(create_app(settings)) as srv, httpx.Client(base_url=srv.url, headers=AUTH,
                                                                      timeout=30) as c:
        def post(root: str, **splits: int) -> httpx.Response:
            return c.post("/v1/experiments", json={"dataset": {"kind": "folder", "root": root}, "tasks": TASKS,
                                                   "splits": {**SPLITS, **splits}})

        inside = post("/data/taskonomy/buildings-a")
        escape = post("/data/taskonomy/../../etc")
        sibling = post("/data/taskonomy-other")
        relative = post("data/taskonomy")
        big = post("/mnt/ds", test=101)
    assert inside.status_code == 202, inside.text
    for resp in (escape, sibling, relative):
        assert resp.status_code == 422 and resp.json()["errors"][0]["loc"] == ["dataset", "root"], resp.text
        assert "/data/taskonomy, /mnt/ds" in resp.json()["detail"]
    assert big.status_code == 422 and big.json()["errors"][0]["loc"] == ["splits", "test"]


def test_a_store_that_cannot_be_written_refuses_work_with_a_503_naming_it(redis_url: str, solver_address: str,
                                                                          tmp_path: Path) -> None:
    settings = make_settings(redis_url, solver_address, Path("/proc/nostore"))
    with BackgroundServer(create_app(settings)) as srv, httpx.Client(base_url=srv.url, headers=AUTH,
                                                                      timeout=30) as c:
        resp = c.post("/v1/experiments", json={"tasks": TASKS, "splits": SPLITS})
        listed = c.get("/v1/experiments").json()["count"]
    assert resp.status_code == 503 and resp.headers["content-type"] == PROBLEM, resp.text
    assert resp.headers["retry-after"]
    assert "'/proc/nostore' cannot be written" in resp.json()["detail"]
    assert listed == 0


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--broker", "http://x", "broker_url: must be a redis://, rediss:// or unix:// URL, got 'http://x'"),
    ("--store", "ftp://nowhere/x", "store_url: artifact store 'ftp://nowhere/x': unsupported scheme 'ftp'"),
])
def test_the_gateway_checks_its_broker_and_store_urls_at_start(option: str, value: str, message: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKONOMY_API_TOKENS", "t" * 20)
    result = CliRunner().invoke(build_app(), ["serve", "gateway", "--port", "1", option, value])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
