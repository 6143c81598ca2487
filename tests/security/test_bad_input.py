"""Bad input never crashes anything: property-based fuzzing of the core (transfer tables, taxonomy
problems, artifact keys), names that reach storage paths (no traversal, tried against a planted
file outside the store), malformed and random messages to the solver, and oversized bodies."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskonomy.errors import TaskonomyError

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


# -- transfer tables -------------------------------------------------------------------------------

VALID_CSV = ("target,sources,n_sources,kind,affinity_ahp,winrate_vs_pixels_gain,winrate_vs_task_quality\n"
             "normal,depth_zbuffer,1,first_order,0.4,0.6,0.5\n"
             "depth_zbuffer,normal,1,first_order,0.5,0.7,0.4\n")
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30),
                    st.sampled_from(["", "nan", "-inf", "1e999", "0x10", "  3 ", "None", "null", "1,5"]))
FIELD = st.one_of(st.text(max_size=30), NUMBERS.map(str),
                  st.sampled_from(["normal", "depth_zbuffer", "rgb2sfnorm", "random", "pixels", "self",
                                   "normal|normal", "a|b|c|d|e|f", "|", "first_order", "higher_order",
                                   "own", "pixels", "random_encoder", "bogus_kind"]))
ROW = st.lists(FIELD, min_size=0, max_size=9)


def _csv(header: list[str], rows: list[list[str]]) -> str:
    import csv

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _read(data: bytes, fmt: str) -> None:
    from taskonomy.affinity import TransferTable

    try:
        table = TransferTable.read(io.BytesIO(data), format=fmt)  # type: ignore[arg-type]
    except TaskonomyError as exc:
        assert str(exc)  # a clear message, never an empty one
        return
    for row in table.rows:  # what was accepted is sane
        for v in (row.affinity, row.gain, row.quality):
            assert v is None or math.isfinite(v)


@FUZZ
@given(rows=st.lists(ROW, max_size=6), header=st.sampled_from([
    VALID_CSV.splitlines()[0].split(","), ["target", "sources", "kind"], ["target", "kind"], ["a", "b"]]))
def test_fuzzed_csv_tables_give_a_table_or_a_clear_error(rows: list[list[str]], header: list[str]) -> None:
    _read(_csv(header, rows).encode("utf-8", "surrogatepass"), "csv")


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.floats(), st.integers(), st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=6)),
    max_leaves=20)
JSON_ROWS = st.lists(st.fixed_dictionaries({}, optional={
    "target": FIELD, "sources": st.one_of(FIELD, st.lists(FIELD, max_size=3), JSON_VALUES),
    "n_sources": st.one_of(NUMBERS, JSON_VALUES), "kind": FIELD, "affinity_ahp": st.one_of(NUMBERS, JSON_VALUES),
    "winrate_vs_pixels_gain": NUMBERS, "winrate_vs_task_quality": NUMBERS}), max_size=5)


@FUZZ
@given(doc=st.one_of(JSON_VALUES, JSON_ROWS, JSON_ROWS.map(lambda rows: {"rows": rows})))
def test_fuzzed_json_tables_give_a_table_or_a_clear_error(doc: Any) -> None:
    _read(json.dumps(doc).encode(), "json")


@FUZZ
@given(data=st.binary(max_size=300), fmt=st.sampled_from(["csv", "json", "parquet"]))
def test_random_bytes_are_a_clear_error(data: bytes, fmt: str) -> None:
    _read(data, fmt)


def test_a_valid_table_is_read() -> None:  # the fuzz tests' baseline is not vacuous
    from taskonomy.affinity import TransferTable

    assert len(TransferTable.read(io.BytesIO(VALID_CSV.encode()), format="csv").rows) == 2


# -- taxonomy problems (BIP parameters) ------------------------------------------------------------

TASKS = st.sampled_from(["normal", "rgb2sfnorm", "depth_zbuffer", "reshade", "edge3d", "autoencoder",
                         "curvature", "random", "no_such_task", "", "../etc", "normal\x00"])
COSTS = st.dictionaries(TASKS, st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10**9)),
                        max_size=4)


@FUZZ
@given(budget=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 40)),
       max_order=st.one_of(st.integers(-2, 70), st.floats(allow_nan=True)),
       objective=st.sampled_from(["affinity", "gain", "quality", "speed", ""]),
       targets=st.one_of(st.none(), st.lists(TASKS, max_size=5)),
       source_only=st.one_of(st.none(), st.lists(TASKS, max_size=3)),
       target_only=st.lists(TASKS, max_size=2), supervision=COSTS, transfer=COSTS, value=COSTS)
def test_fuzzed_taxonomy_problems_give_a_solution_or_a_clear_error(
        budget: Any, max_order: Any, objective: str, targets: Any, source_only: Any, target_only: list[str],
        supervision: dict[str, Any], transfer: dict[str, Any], value: dict[str, Any]) -> None:
    from taskonomy.affinity import load_table
    from taskonomy.selection import TaxonomyProblem, solve_taxonomy

    try:
        problem = TaxonomyProblem(
            targets=tuple(targets) if targets is not None else None,
            source_only=tuple(source_only) if source_only is not None else None, target_only=tuple(target_only),
            budget=budget, max_order=max_order, objective=objective,  # type: ignore[arg-type]
            supervision_cost=supervision, transfer_cost=transfer, task_value=value)
        solution = solve_taxonomy(load_table("paper-base"), problem)
    except TaskonomyError as exc:
        assert str(exc)
        return
    assert solution.status in ("OPTIMAL", "INFEASIBLE")
    if solution.status == "OPTIMAL":
        assert solution.objective is not None and math.isfinite(solution.objective)


# -- names that reach storage paths ----------------------------------------------------------------

KEYISH = st.lists(st.sampled_from([*"ab./\\:%~-_=+ \x00\u2024", "..", "../", "/..", "%2e", ".meta.json"]),
                  max_size=12).map("".join)


@FUZZ
@given(key=st.one_of(KEYISH, st.text(max_size=40)))
def test_artifact_keys_never_escape_the_store(key: str) -> None:
    from taskonomy.store import validate_key

    try:
        validate_key(key)
    except TaskonomyError:
        return
    root = "/store/root"
    resolved = os.path.normpath(os.path.join(root, key))
    assert resolved.startswith(root + "/") and ".." not in key.split("/") and not key.startswith("/")


TRAVERSALS = ["../secret", "a/../../secret", "/etc/passwd", "..", "a/./b", "a//b", "a\\..\\secret",
              "C:/secret", "a/b/", "x.meta.json", "a/x.tmp-1", "\x00", "a/\x00/b", "~/.ssh/id_rsa"]


@pytest.mark.parametrize("key", TRAVERSALS)
def test_the_store_refuses_traversal_and_writes_nothing(key: str, tmp_path: Path) -> None:
    from taskonomy.store import ArtifactStore

    store = ArtifactStore(tmp_path / "store")
    with pytest.raises(TaskonomyError):
        store.put_bytes(key, b"x")
    with pytest.raises(TaskonomyError):
        store.get_bytes(key)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == []


def _plant_secret(root: Path) -> None:
    """A valid-looking artifact one level above the store: what a traversal would read."""
    data = b"TOPSECRET"
    (root / "secret").write_bytes(data)
    (root / "secret.meta.json").write_text(json.dumps({"sha256": hashlib.sha256(data).hexdigest(), "size": 9}))


GATEWAY_PATHS = [
    "/v1/tables/..%2Fsecret", "/v1/tables/..%2F..%2Fsecret/transfers", "/v1/tables/%2e%2e%2fsecret",
    "/v1/experiments/..%2Fsecret", "/v1/experiments/..%2Fsecret/transfers", "/v1/experiments/..%2Fsecret/models",
    "/v1/models/..%2Fsecret", "/v1/models/..%2Fsecret/weights", "/v1/models/a%2F..%2F..%2Fsecret",
    "/v1/models/%2E%2E/secret", "/v1/models/..%5Csecret", "/v1/models/%00", "/v1/predictions/..%2Fsecret",
    "/v1/predictions/x/..%2F..%2F..%2Fsecret", "/v1/predictions/..%2F../secret",
    "/ui/static/..%2F..%2F..%2Fsecret", "/ui/static/%2e%2e/%2e%2e/app.py",
]


@pytest.mark.integration
def test_gateway_names_never_reach_outside_the_store(redis_url: str, solver_address: str, tmp_path: Path) -> None:
    from services.gateway.app import create_app
    from services.gateway.server import BackgroundServer
    from tests.services.gateway._fixtures import AUTH, make_settings

    store = tmp_path / "store"
    store.mkdir()
    _plant_secret(tmp_path)
    _plant_secret(store.parent.parent)  # two levels up as well (tmp_path's parent is pytest's)
    app = create_app(make_settings(redis_url, solver_address, store))
    with BackgroundServer(app) as srv, httpx.Client(base_url=srv.url, timeout=30, headers=AUTH) as c:
        answers = {p: c.get(p) for p in GATEWAY_PATHS}
        answers["POST taxonomy"] = c.post("/v1/taxonomy", json={"table": "../secret"})
        answers["POST predictions"] = c.post("/v1/experiments/..%2Fsecret/predictions", content=b"\x89PNG",
                                             headers={"Content-Type": "image/png"})
    bad = {p: (r.status_code, r.text[:200]) for p, r in answers.items()
           if not 400 <= r.status_code < 500 or "TOPSECRET" in r.text}
    assert bad == {}
    (tmp_path / "secret").unlink()
    (store.parent.parent / "secret").unlink()
    (store.parent.parent / "secret.meta.json").unlink()


# -- the solver: malformed and random messages -------------------------------------------------------

METHODS = ["SolveTaxonomy", "ComputeAffinity", "SweepBudgets"]
#: Codes a bad request may get: a clear refusal, never INTERNAL/UNKNOWN (a crash in the server).
CLEAR = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION,
         grpc.StatusCode.RESOURCE_EXHAUSTED}


@pytest.fixture(scope="module")
def solver_channel() -> Iterator[grpc.Channel]:
    from services.solver.server import create_server

    server, port = create_server("127.0.0.1:0", max_workers=2)
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    server.stop(grace=None).wait(5)


def _raw(channel: grpc.Channel, method: str, data: bytes) -> tuple[grpc.StatusCode, bytes]:
    call = channel.unary_unary(f"/taskonomy.solver.v1.SolverService/{method}",
                               request_serializer=lambda b: b, response_deserializer=lambda b: b)
    try:
        return grpc.StatusCode.OK, call(data, timeout=30)
    except grpc.RpcError as exc:
        return exc.code(), (exc.details() or "").encode()


@pytest.mark.integration
@pytest.mark.parametrize("data", [b"\xff\xff\xff\xff", b"\x0a\xff\xff\xff\xff\x0f", b"\x08" * 7,
                                  b"\x12\x05short", bytes(range(256))])
def test_undecodable_solver_messages_are_refused(solver_channel: grpc.Channel, data: bytes) -> None:
    for method in METHODS:
        code, _ = _raw(solver_channel, method, data)
        assert code != grpc.StatusCode.OK and code != grpc.StatusCode.UNAVAILABLE, (method, code)


@pytest.mark.integration
@settings(max_examples=40, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(method=st.sampled_from(METHODS), data=st.binary(max_size=200))
def test_random_solver_messages_get_a_clear_answer(solver_channel: grpc.Channel, method: str, data: bytes) -> None:
    code, details = _raw(solver_channel, method, data)
    # bytes that happen to parse are a request like any other: an answer or a clear refusal
    assert code == grpc.StatusCode.OK or code in CLEAR or b"parse" in details.lower() \
        or b"deserializ" in details.lower(), (method, code, details[:200])


@pytest.mark.integration
def test_the_solver_still_serves_after_the_garbage(solver_channel: grpc.Channel) -> None:
    from services.solver.generated import solver_pb2 as pb

    request = pb.SolveTaxonomyRequest(table_name="paper-base")
    code, answer = _raw(solver_channel, "SolveTaxonomy", request.SerializeToString())
    assert code == grpc.StatusCode.OK and pb.SolveTaxonomyResponse.FromString(answer).solution.roots


# -- oversized payloads ----------------------------------------------------------------------------

@pytest.mark.integration
def test_oversized_bodies_are_refused_even_without_a_length(redis_url: str, solver_address: str,
                                                            tmp_path: Path) -> None:
    from services.gateway.app import create_app
    from services.gateway.server import BackgroundServer
    from tests.services.gateway._fixtures import AUTH, make_settings

    settings_ = make_settings(redis_url, solver_address, tmp_path, max_body_bytes=4096)
    big = b'{"tasks": [' + b'"normal",' * 2000 + b'"normal"]}'

    def chunks() -> Iterator[bytes]:  # chunked transfer encoding: no Content-Length to check up front
        for i in range(0, len(big), 1000):
            yield big[i:i + 1000]

    with BackgroundServer(create_app(settings_)) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
        declared = c.post("/v1/experiments", content=big, headers={**AUTH, "Content-Type": "application/json"})
        streamed = c.post("/v1/experiments", content=chunks(), headers={**AUTH, "Content-Type": "application/json"})
        query = c.post("/v1/taxonomy", content=chunks(), headers={"Content-Type": "application/json"})
        after = c.get("/healthz")
    for resp in (declared, streamed, query):
        assert resp.status_code == 413, resp.text
        assert resp.headers["content-type"] == "application/problem+json"
    assert after.status_code == 200
