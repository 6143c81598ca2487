"""Malformed or inconsistent requests get a canonical code and a message naming the field."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import grpc
import pytest

from services.solver.client import SolverClient
from services.solver.generated import solver_pb2 as pb
from services.solver.generated import solver_pb2_grpc as pb_grpc
from services.solver.server import _rpc, status_for
from taskonomy.errors import (
    CorruptArtifactError,
    InvalidInputError,
    NotFoundError,
    PreconditionError,
    TaskonomyError,
)

pytestmark = pytest.mark.integration
INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND


def _row(**kw: Any) -> pb.TransferRow:
    base: dict[str, Any] = {"target": "a", "sources": ["self"], "kind": pb.TRANSFER_KIND_SELF_FULL_SUPERVISION,
                            "affinity": 0.5, "gain": 0.5, "quality": 0.5}
    base.update(kw)
    return pb.TransferRow(**base)


def _solve(problem: pb.TaxonomyProblem | None = None, **table: Any) -> pb.SolveTaxonomyRequest:
    if not table:
        table = {"table_name": "paper-base"}
    return pb.SolveTaxonomyRequest(problem=problem, **table)


def _candidate(kind: Any, losses: list[float] | None = None, win_rates: list[float] | None = None,
               sources: tuple[str, ...] = ("x",)) -> pb.AffinityCandidate:
    return pb.AffinityCandidate(sources=list(sources), kind=kind, losses=losses or [], win_rates=win_rates or [])


SELF, FIRST, PIXELS = (pb.TRANSFER_KIND_SELF_FULL_SUPERVISION, pb.TRANSFER_KIND_FIRST_ORDER,
                       pb.TRANSFER_KIND_PIXELS_SCRATCH_BASELINE)


def _affinity(*candidates: pb.AffinityCandidate, **kw: Any) -> pb.ComputeAffinityRequest:
    return pb.ComputeAffinityRequest(targets=[pb.AffinityTarget(target="t", candidates=list(candidates))], **kw)


SOLVE_CASES: list[tuple[str, pb.SolveTaxonomyRequest, grpc.StatusCode, str]] = [
    ("unknown table", _solve(table_name="paper-99k"), NOT_FOUND, "table_name: unknown built-in table 'paper-99k'"),
    ("no file paths", _solve(table_name="/etc/passwd"), NOT_FOUND, "table_name"),
    ("no table", pb.SolveTaxonomyRequest(), INVALID, "table: set table_name"),
    ("nan budget", _solve(pb.TaxonomyProblem(budget=math.nan)), INVALID, "problem.budget"),
    ("negative budget", _solve(pb.TaxonomyProblem(budget=-1)), INVALID, "problem.budget"),
    ("zero max order", _solve(pb.TaxonomyProblem(max_order=0)), INVALID, "problem.max_order"),
    ("unknown objective", _solve(pb.TaxonomyProblem(objective=cast(Any, 42))), INVALID,
     "problem.objective: unknown value 42"),
    ("unknown target", _solve(pb.TaxonomyProblem(targets=pb.TaskList(tasks=["rgb2sfnorm", "telepathy"]))),
     INVALID, "problem.targets"),
    ("empty task name", _solve(pb.TaxonomyProblem(target_only=[""])), INVALID, "problem.target_only[0]"),
    ("two roles", _solve(pb.TaxonomyProblem(targets=pb.TaskList(tasks=["rgb2sfnorm"]),
                                            source_only=pb.TaskList(tasks=["rgb2sfnorm"]))),
     INVALID, "problem.source_only"),
    ("negative cost", _solve(pb.TaxonomyProblem(supervision_cost={"rgb2sfnorm": -1.0})),
     INVALID, "problem.supervision_cost[rgb2sfnorm]"),
    ("unknown cost key", _solve(pb.TaxonomyProblem(transfer_cost={"telepathy": 1.0})),
     INVALID, "problem.transfer_cost"),
    ("empty table", _solve(transfer_table=pb.TransferTable()), INVALID, "transfer_table.rows"),
    ("unset kind", _solve(transfer_table=pb.TransferTable(rows=[_row(kind=0)])), INVALID,
     "transfer_table.rows[0].kind: must be set"),
    ("unknown kind", _solve(transfer_table=pb.TransferTable(rows=[_row(), _row(kind=99, sources=["b"])])),
     INVALID, "transfer_table.rows[1].kind: unknown value 99"),
    ("nan affinity", _solve(transfer_table=pb.TransferTable(rows=[_row(affinity=math.nan)])), INVALID,
     "transfer_table.rows[0].affinity"),
    ("win rate > 1", _solve(transfer_table=pb.TransferTable(rows=[_row(gain=1.5)])), INVALID,
     "transfer_table.rows[0].gain"),
    ("core row check", _solve(transfer_table=pb.TransferTable(rows=[_row(sources=["b"])])), INVALID,
     "transfer_table: row 1"),
]

AFFINITY_CASES: list[tuple[str, pb.ComputeAffinityRequest, str]] = [
    ("no targets", pb.ComputeAffinityRequest(), "targets: at least one"),
    ("one candidate", _affinity(_candidate(SELF, [1.0])), "targets[0].candidates: a tournament needs at least 2"),
    ("ragged losses", _affinity(_candidate(SELF, [1.0, 2.0, 3.0]), _candidate(FIRST, [1.0, 2.0])),
     "targets[0].candidates[1].losses: has 2 values, expected 3"),
    ("infinite loss", _affinity(_candidate(SELF, [1.0, 2.0]), _candidate(FIRST, [1.0, math.inf])),
     "targets[0].candidates[1].losses[1]: must be finite (NaN marks a missing loss)"),
    ("all missing", _affinity(_candidate(SELF, [1.0, 2.0]), _candidate(FIRST, [math.nan, math.nan])),
     "targets[0].candidates[1].losses: every loss is NaN"),
    ("two selfs", _affinity(_candidate(SELF, [1.0]), _candidate(SELF, [2.0], sources=("y",))),
     "at most one candidate may have kind TRANSFER_KIND_SELF_FULL_SUPERVISION"),
    ("only pixels besides", _affinity(_candidate(SELF, [1.0]), _candidate(PIXELS, [2.0])),
     "at least 2 candidates besides pixels"),
    ("two pixels",
     _affinity(_candidate(SELF, [1.0]), _candidate(PIXELS, [1.0]), _candidate(PIXELS, [2.0], sources=("z",))),
     "at most one candidate may have kind TRANSFER_KIND_PIXELS_SCRATCH_BASELINE"),
    ("unknown kind", _affinity(_candidate(SELF, [1.0]), _candidate(17, [2.0])),
     "targets[0].candidates[1].kind: unknown value 17"),
    ("neither", _affinity(_candidate(SELF, [1.0]), _candidate(FIRST)), "targets[0].candidates[1]: set exactly one"),
    ("mixed", _affinity(_candidate(SELF, [1.0]), _candidate(FIRST, win_rates=[0.5, 0.5])),
     "all candidates of a target must use the same one"),
    ("win rate range", _affinity(_candidate(SELF, win_rates=[0.5, 1.2]), _candidate(FIRST, win_rates=[0.0, 0.5])),
     "targets[0].candidates[0].win_rates[1]: must be in [0.0, 1.0]"),
    ("nan win rate", _affinity(_candidate(SELF, win_rates=[0.5, math.nan]), _candidate(FIRST, win_rates=[0.0, 0.5])),
     "targets[0].candidates[0].win_rates[1]"),
    ("duplicate source", _affinity(_candidate(SELF, [1.0]), _candidate(FIRST, [2.0], sources=("y", "y"))),
     "targets[0].candidates[1].sources[1]: 'y' is listed twice"),
    ("win rate width", _affinity(_candidate(SELF, win_rates=[0.5]), _candidate(FIRST, win_rates=[0.5])),
     "targets[0].candidates[0].win_rates: has 1 values, expected 2"),
    ("bootstrap needs losses",
     _affinity(_candidate(SELF, win_rates=[0.5, 0.4]), _candidate(FIRST, win_rates=[0.6, 0.5]), bootstrap=10),
     "bootstrap: needs per-image losses"),
    ("confidence", _affinity(_candidate(SELF, [1.0]), _candidate(FIRST, [2.0]), confidence=1.0), "confidence"),
]


def _code_and_message(call: Callable[..., Any], request: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=60)
    err: Any = info.value
    return err.code(), err.details()


@pytest.mark.parametrize(("request_", "code", "field"), [c[1:] for c in SOLVE_CASES], ids=[c[0] for c in SOLVE_CASES])
def test_bad_solve_requests(stub: pb_grpc.SolverServiceStub, request_: pb.SolveTaxonomyRequest,
                            code: grpc.StatusCode, field: str) -> None:
    got, message = _code_and_message(stub.SolveTaxonomy, request_)
    assert got == code, message
    assert field in message


@pytest.mark.parametrize(("request_", "field"), [c[1:] for c in AFFINITY_CASES], ids=[c[0] for c in AFFINITY_CASES])
def test_bad_affinity_requests(stub: pb_grpc.SolverServiceStub, request_: pb.ComputeAffinityRequest,
                               field: str) -> None:
    got, message = _code_and_message(stub.ComputeAffinity, request_)
    assert got == INVALID, message
    assert field in message


def test_bad_sweep_budget(stub: pb_grpc.SolverServiceStub) -> None:
    request = pb.SweepBudgetsRequest(table_name="paper-base", budgets=[1.0, math.inf])
    got, message = _code_and_message(stub.SweepBudgets, request)
    assert got == INVALID and message.startswith("budgets[1]:")


def test_client_raises_the_cores_exceptions(client: SolverClient) -> None:
    with pytest.raises(NotFoundError, match="paper-99k"):
        client.solve_taxonomy("paper-99k")
    with pytest.raises(InvalidInputError, match=r"^problem\.targets"):
        client.solve_taxonomy("paper-base", {"targets": ["telepathy"]})
    with pytest.raises(InvalidInputError, match="problem: unknown field"):
        client.solve_taxonomy("paper-base", {"budjet": 3})
    with pytest.raises(InvalidInputError, match=r"^problem\.targets: must be a list"):
        client.solve_taxonomy("paper-base", {"targets": "rgb2sfnorm"})
    with pytest.raises(InvalidInputError, match=r"^problem\.objective: must be one of affinity, gain, quality"):
        client.solve_taxonomy("paper-base", {"objective": "speed"})


class _Custom(PreconditionError):
    pass


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (InvalidInputError("x"), grpc.StatusCode.INVALID_ARGUMENT),
        (NotFoundError("x"), grpc.StatusCode.NOT_FOUND),
        (PreconditionError("x"), grpc.StatusCode.FAILED_PRECONDITION),
        (_Custom("x"), grpc.StatusCode.FAILED_PRECONDITION),
        (CorruptArtifactError("x"), grpc.StatusCode.DATA_LOSS),
        (TaskonomyError("x"), grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
def test_status_mapping(exc: TaskonomyError, code: grpc.StatusCode) -> None:
    assert status_for(exc) == code


class _Broken(pb_grpc.SolverServiceServicer):
    """A servicer whose handler fails unexpectedly, wrapped by the same decorator as the real one."""

    @_rpc
    def SolveTaxonomy(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        raise ZeroDivisionError("secret internal detail")


def test_unexpected_errors_are_internal_with_a_generic_message(caplog: pytest.LogCaptureFixture) -> None:
    server = grpc.server(ThreadPoolExecutor(max_workers=1))
    pb_grpc.add_SolverServiceServicer_to_server(_Broken(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel, caplog.at_level(logging.ERROR):
            code, message = _code_and_message(pb_grpc.SolverServiceStub(channel).SolveTaxonomy,
                                              pb.SolveTaxonomyRequest(table_name="paper-16k"))
    finally:
        server.stop(None)
    assert code == grpc.StatusCode.INTERNAL
    assert "secret" not in message and "internal error" in message
    assert "ZeroDivisionError: secret internal detail" in caplog.text  # the traceback is logged
