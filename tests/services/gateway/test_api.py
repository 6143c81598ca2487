"""The REST API over a real uvicorn server, real Redis (state store and Celery broker) and the real
solver gRPC service."""

from __future__ import annotations

import csv
import io
import json

import pytest
import redis

from services.queue.tasknames import RUN_EXPERIMENT
from taskonomy.affinity import load_table
from tests.services.gateway._fixtures import AUTH, TOKEN, Live

pytestmark = pytest.mark.integration

SPEC = {"name": "tiny", "tasks": ["normal", "depth_zbuffer"], "splits": {"train": 8, "transfer": 4, "test": 4}}
PROBLEM = "application/problem+json"


def control_messages(gw: Live) -> list[dict]:
    r = redis.Redis.from_url(gw.settings.broker_url)
    return [json.loads(m) for m in r.lrange("control", 0, -1)]


def submit(gw: Live, spec: dict | None = None) -> str:
    with gw.client(auth=True) as c:
        resp = c.post("/v1/experiments", json=spec or SPEC)
    assert resp.status_code == 202, resp.text
    return resp.json()["id"]


def test_health_and_ready(gw: Live) -> None:
    with gw.client() as c:
        assert c.get("/healthz").json() == {"status": "ok", "checks": {}}
        ready = c.get("/readyz")
        health = c.get("/v1/health")
    assert ready.status_code == 200, ready.text
    assert health.status_code == 200, health.text
    assert health.json()["status"] == "ok"
    assert {name: d["up"] for name, d in health.json()["dependencies"].items()} == {
        "redis": True, "solver": True, "store": True}


def test_mutating_calls_need_a_valid_token(gw: Live) -> None:
    with gw.client() as c:
        missing = c.post("/v1/experiments", json=SPEC)
        wrong = c.post("/v1/experiments", json=SPEC, headers={"Authorization": "Bearer not-the-token-at-all"})
        basic = c.post("/v1/experiments", json=SPEC, headers={"Authorization": "Basic dXNlcjpwYXNz"})
        cancel = c.delete("/v1/experiments/abc", headers={"Authorization": f"Bearer {TOKEN}x"})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.headers["content-type"] == PROBLEM
    assert missing.json()["type"].endswith("unauthorized")
    assert basic.status_code == 401
    assert wrong.status_code == 403 and wrong.headers["content-type"] == PROBLEM
    assert cancel.status_code == 403
    assert control_messages(gw) == []  # nothing was enqueued


def test_reads_are_open_by_default(gw: Live) -> None:
    with gw.client() as c:
        assert c.get("/v1/experiments").status_code == 200
        assert len(c.get("/v1/tasks").json()) == 26


def test_validation_errors_are_problem_json(gw: Live) -> None:
    with gw.client(auth=True) as c:
        unknown = c.post("/v1/experiments", json={**SPEC, "tasks": ["normal", "no_such_task"]})
        bad_split = c.post("/v1/experiments", json={**SPEC, "splits": {"train": 0, "transfer": 4, "test": 4}})
        not_json = c.post("/v1/experiments", content=b"{not json", headers={"Content-Type": "application/json"})
        not_object = c.post("/v1/experiments", json=[1, 2])
        too_big = c.post("/v1/experiments", content=b"x" * (gw.settings.max_body_bytes + 1))
        bad_problem = c.post("/v1/taxonomy", json={"table": "paper-16k", "objective": "speed"})
        bad_id = c.get("/v1/experiments/..%2F..")
    for resp, status in ((unknown, 422), (bad_split, 422), (not_json, 400), (not_object, 422), (too_big, 413),
                         (bad_problem, 422)):
        assert resp.status_code == status, resp.text
        assert resp.headers["content-type"] == PROBLEM
        body = resp.json()
        assert body["status"] == status and body["title"] and body["detail"]
    assert "no_such_task" in unknown.json()["detail"]
    assert "splits.train" in bad_split.json()["detail"]
    assert bad_problem.json()["errors"][0]["loc"] == ["body", "objective"]
    assert bad_id.status_code in (404, 422)
    assert control_messages(gw) == []


def test_submission_is_idempotent_and_enqueues_by_name(gw: Live) -> None:
    with gw.client(auth=True) as c:
        first = c.post("/v1/experiments", json=SPEC)
        again = c.post("/v1/experiments", json={**SPEC, "name": "same content, other name"})
        other = c.post("/v1/experiments", json={**SPEC, "seed": 1})
    assert first.status_code == 202, first.text
    exp_id = first.json()["id"]
    assert first.headers["location"] == f"/v1/experiments/{exp_id}"
    assert again.status_code == 200 and again.headers["location"] == first.headers["location"]
    assert again.json()["id"] == exp_id and again.json()["name"] == "tiny"
    assert other.status_code == 202 and other.json()["id"] != exp_id
    messages = control_messages(gw)
    assert len(messages) == 2  # the repeated submission enqueued nothing
    tasks = sorted((m["headers"]["task"], m["headers"]["argsrepr"]) for m in messages)
    assert tasks == sorted([(RUN_EXPERIMENT, repr([exp_id])), (RUN_EXPERIMENT, repr([other.json()["id"]]))])
    record = gw.ctx.state.get(exp_id)
    assert record is not None and record.state == "PENDING"
    assert record.spec["tasks"] == [{"name": "normal", "role": "target"}, {"name": "depth_zbuffer", "role": "target"}]


def test_failed_experiment_is_rerun_on_resubmission(gw: Live) -> None:
    exp_id = submit(gw)
    gw.ctx.state.set_state(exp_id, "FAILED", error="boom")
    with gw.client(auth=True) as c:
        resp = c.post("/v1/experiments", json=SPEC)
    assert resp.status_code == 202 and resp.json()["state"] == "PENDING" and resp.json()["error"] is None
    assert len(control_messages(gw)) == 2


def test_status_list_and_not_found(gw: Live) -> None:
    exp_id = submit(gw)
    state = gw.ctx.state
    state.set_state(exp_id, "RUNNING")
    state.add_stage_jobs(exp_id, "train", 2)
    state.job_done(exp_id, "train")
    with gw.client() as c:
        one = c.get(f"/v1/experiments/{exp_id}").json()
        listed = c.get("/v1/experiments", params={"limit": 10}).json()
        missing = c.get("/v1/experiments/doesnotexist")
        bad_limit = c.get("/v1/experiments", params={"limit": 0})
    assert one["state"] == "RUNNING"
    assert one["stages"] == {"train": {"total": 2, "done": 1, "failed": 0, "ratio": 0.5}}
    assert one["links"]["ui"] == f"/ui/experiments/{exp_id}"
    assert listed["count"] == 1 and [e["id"] for e in listed["items"]] == [exp_id]
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    assert "doesnotexist" in missing.json()["detail"]
    assert bad_limit.status_code == 422


def test_cancel(gw: Live) -> None:
    exp_id = submit(gw)
    with gw.client(auth=True) as c:
        resp = c.delete(f"/v1/experiments/{exp_id}")  # nothing of it runs (still PENDING): cancelled at once
        assert resp.status_code == 202 and resp.json()["state"] == "CANCELLED"
        assert gw.ctx.state.cancel_requested(exp_id)
        again = c.delete(f"/v1/experiments/{exp_id}")  # finished (CANCELLED): 409, as for SUCCEEDED and FAILED
        assert again.status_code == 409 and "already finished (CANCELLED)" in again.json()["detail"]
        assert again.headers["content-type"] == PROBLEM
        gw.ctx.state.set_state(exp_id, "SUCCEEDED")
        finished = c.delete(f"/v1/experiments/{exp_id}")
        assert finished.status_code == 409 and "already finished" in finished.json()["detail"]
        assert c.delete("/v1/experiments/nope").status_code == 404


def test_cancel_waits_for_a_running_job(gw: Live) -> None:
    """A job of the experiment holds its lease (it runs on a worker): CANCELLING until it ends."""
    from services.queue.leases import lease_key
    from services.queue.runbook import RunBook

    exp_id = submit(gw)
    r = gw.ctx.redis
    r.set(f"taskonomy:exp:{exp_id}:run", 1)  # what a worker's start of the run records
    RunBook(r, exp_id, 1).register([{"id": "j1", "stage": "train", "outputs": []}], {})
    gw.ctx.state.set_state(exp_id, "RUNNING")
    r.set(lease_key("j1"), "holder", px=60_000)
    with gw.client(auth=True) as c:
        resp = c.delete(f"/v1/experiments/{exp_id}")
    assert resp.status_code == 202 and resp.json()["state"] == "CANCELLING"


def test_add_task_reruns_the_same_experiment(gw: Live) -> None:
    exp_id = submit(gw)
    with gw.client(auth=True) as c:
        busy = c.post(f"/v1/experiments/{exp_id}/tasks", json={"name": "reshading"})
        assert busy.status_code == 409  # still PENDING
        gw.ctx.state.set_state(exp_id, "SUCCEEDED")
        dup = c.post(f"/v1/experiments/{exp_id}/tasks", json={"name": "rgb2sfnorm"})  # alias of normal
        unknown = c.post(f"/v1/experiments/{exp_id}/tasks", json={"name": "teleportation"})
        bad_role = c.post(f"/v1/experiments/{exp_id}/tasks", json={"name": "reshading", "role": "boss"})
        added = c.post(f"/v1/experiments/{exp_id}/tasks", json={"name": "reshade", "role": "target_only"})
    assert dup.status_code == 409 and "already part" in dup.json()["detail"]
    assert unknown.status_code == 422 and "teleportation" in unknown.json()["detail"]
    assert bad_role.status_code == 422
    assert added.status_code == 202, added.text
    assert added.headers["location"] == f"/v1/experiments/{exp_id}"
    body = added.json()
    assert body["id"] == exp_id and body["state"] == "PENDING"
    assert {"name": "reshading", "role": "target_only"} in body["spec"]["tasks"]
    assert len(control_messages(gw)) == 2  # submitted once, re-sent once


def _finish_with_table(gw: Live, exp_id: str) -> None:
    from taskonomy.store import ArtifactStore

    table = load_table("paper-base")
    buf = io.BytesIO()
    table.write(buf, format="csv")
    key = "tables/transfers-test"
    ArtifactStore(gw.settings.store_url).put_bytes(key, buf.getvalue())
    gw.ctx.state.set_result(exp_id, {"table": key, "store": gw.settings.store_url})  # as the executor does
    gw.ctx.state.set_state(exp_id, "SUCCEEDED")


def test_transfers_json_and_csv(gw: Live) -> None:
    exp_id = submit(gw)
    with gw.client() as c:
        early = c.get(f"/v1/experiments/{exp_id}/transfers")
        assert early.status_code == 409 and early.headers["content-type"] == PROBLEM
        _finish_with_table(gw, exp_id)
        as_json = c.get(f"/v1/experiments/{exp_id}/transfers")
        as_csv = c.get(f"/v1/experiments/{exp_id}/transfers", headers={"Accept": "text/csv"})
        by_query = c.get(f"/v1/experiments/{exp_id}/transfers", params={"format": "csv"})
    expected = load_table("paper-base")
    assert as_json.headers["content-type"] == "application/json"
    body = as_json.json()
    assert body["experiment"] == exp_id and len(body["rows"]) == len(expected)
    assert body["columns"][:3] == ["target", "sources", "n_sources"]
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(rows) == len(expected) and by_query.text == as_csv.text
    assert {r["target"] for r in rows} == set(expected.targets())


def test_taxonomy_over_paper_16k_defaults_is_the_documented_solution(gw: Live) -> None:
    with gw.client() as c:
        first = c.post("/v1/taxonomy", json={"table": "paper-16k"})
        second = c.post("/v1/taxonomy", json={"table": "paper-16k", "budget": 6.0, "max_order": 5})
        smaller = c.post("/v1/taxonomy", json={"table": "paper-16k", "budget": 3})
        roles = {"table": "paper-16k", "targets": ["rgb2sfnorm", "rgb2depth", "reshade"], "budget": 2}
        ordered = c.post("/v1/taxonomy", json=roles)
        reordered = c.post("/v1/taxonomy", json={**roles, "targets": roles["targets"][::-1]})
    assert first.status_code == 200, first.text
    sol = first.json()
    assert sol["status"] == "OPTIMAL"
    assert sorted(sol["roots"]) == ["class_places", "denoise", "edge2d", "keypoint2d", "keypoint3d", "rgb2sfnorm"]
    assert round(sol["objective"], 4) == 5.0328
    assert {"status", "objective", "roots", "edges"} <= set(sol)
    assert all({"target", "sources", "affinity", "gain", "quality"} <= set(e) for e in sol["edges"])
    assert first.headers["x-cache"] == "miss" and second.headers["x-cache"] == "hit"
    assert second.json() == sol
    assert smaller.status_code == 200 and len(smaller.json()["roots"]) <= 3
    assert ordered.headers["x-cache"] == "miss" and reordered.headers["x-cache"] == "hit"
    assert smaller.json()["roots"] != sol["roots"]


def test_taxonomy_over_an_experiment_and_unknown_tables(gw: Live) -> None:
    exp_id = submit(gw)
    with gw.client() as c:
        not_yet = c.post("/v1/taxonomy", json={"table": exp_id})
        _finish_with_table(gw, exp_id)
        ours = c.post("/v1/taxonomy", json={"table": exp_id, "budget": 4})
        builtin = c.post("/v1/taxonomy", json={"table": "paper-base", "budget": 4})
        unknown = c.post("/v1/taxonomy", json={"table": "paper-32k"})
        bad_task = c.post("/v1/taxonomy", json={"table": "paper-16k", "targets": ["flying"]})
        tables = c.get("/v1/tables").json()
        info = c.get(f"/v1/tables/{exp_id}").json()
    assert not_yet.status_code == 409
    assert ours.status_code == 200 and ours.json()["roots"] == builtin.json()["roots"]
    assert unknown.status_code == 404 and "paper-16k" in unknown.json()["detail"]
    assert bad_task.status_code == 422 and "flying" in bad_task.json()["detail"]
    assert [t["name"] for t in tables] == ["paper-16k", "paper-1k", "paper-base", exp_id]
    assert info["kind"] == "experiment" and "rgb2sfnorm" in info["targets"]


def test_openapi_documents_every_route(gw: Live) -> None:
    with gw.client() as c:
        spec = c.get("/openapi.json").json()
    paths = spec["paths"]
    for path in ("/v1/experiments", "/v1/experiments/{id}", "/v1/experiments/{id}/tasks",
                 "/v1/experiments/{id}/transfers", "/v1/taxonomy", "/v1/tasks", "/v1/cluster", "/healthz",
                 "/readyz", "/metrics"):
        assert path in paths, path
    body = paths["/v1/experiments"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/ExperimentSpec"} in body["anyOf"]
    assert "ExperimentSpec" in spec["components"]["schemas"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_cluster_view_outside_kubernetes(gw: Live) -> None:
    with gw.client() as c:
        resp = c.get("/v1/cluster")
    assert resp.status_code == 200
    assert resp.json() == {"configured": False, "namespace": None,
                           "detail": "no cluster configured (not running in Kubernetes)", "deployments": []}


def test_ui_pages_are_served(gw: Live) -> None:
    with gw.client() as c:
        assert c.get("/", follow_redirects=False).headers["location"] == "/ui/"
        for path in ("/ui/", "/ui/taxonomy", "/ui/experiments/paper-16k", "/ui/static/common.js"):
            resp = c.get(path)
            assert resp.status_code == 200, path
    assert AUTH  # the UI needs no token for reads


@pytest.mark.parametrize("name", ["\u202eevil", "evil\x00", "two\nlines", "zero\u200bwidth", "\u2067iso\u2069",
                                  "esc\x1b[31m"])
def test_names_with_control_or_bidi_characters_are_refused(gw: Live, name: str) -> None:
    """A name prints as itself in the UI and logs: U+202E made "evil" show as "live"."""
    with gw.client(auth=True) as c:
        resp = c.post("/v1/experiments", json={**SPEC, "name": name})
        assert resp.status_code == 422 and resp.headers["content-type"] == PROBLEM, resp.text
        assert [e["loc"] for e in resp.json()["errors"]] == [["name"]]
        assert "characters (U+" in resp.json()["errors"][0]["msg"]
        assert c.get("/v1/experiments").json()["count"] == 0  # nothing created
    ok = submit(gw, {**SPEC, "name": "Évaluation — 評価 (v2)"})  # printable non-ASCII stays welcome
    assert ok
