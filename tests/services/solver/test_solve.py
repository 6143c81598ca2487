"""SolveTaxonomy and SweepBudgets over a real server on port 0, against the core's own answers."""

from __future__ import annotations

from typing import Any

import pytest

from services.solver.client import SolverClient
from services.solver.generated import solver_pb2 as pb
from services.solver.generated import solver_pb2_grpc as pb_grpc
from taskonomy.affinity import TransferRow, TransferTable, load_table
from taskonomy.selection import TaxonomyProblem, solve_taxonomy

pytestmark = pytest.mark.integration

#: The worked example of shared/anchors/taskonomy-paper/README.md (16k set, all defaults).
PAPER_16K_ROOTS = ["class_places", "denoise", "edge2d", "keypoint2d", "keypoint3d", "rgb2sfnorm"]
PAPER_16K_OBJECTIVE = 5.0328


def _without_time(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k != "solve_time_s"}


@pytest.fixture(scope="module")
def paper_16k(stub: pb_grpc.SolverServiceStub) -> pb.SolveTaxonomyResponse:
    return stub.SolveTaxonomy(pb.SolveTaxonomyRequest(table_name="paper-16k"), timeout=120)


def test_paper_16k_defaults_give_the_documented_solution(paper_16k: pb.SolveTaxonomyResponse) -> None:
    sol = paper_16k.solution
    assert sol.status == pb.SOLUTION_STATUS_OPTIMAL
    assert sorted(sol.roots) == PAPER_16K_ROOTS
    assert round(sol.objective, 4) == PAPER_16K_OBJECTIVE
    assert (sol.budget, sol.max_order, sol.objective_name) == (6.0, 5, pb.OBJECTIVE_AFFINITY)
    assert sol.reason == ""
    # every one of the 22 targets is a root or receives one edge whose sources are all roots
    table = load_table("paper-16k")
    edge_targets = [e.target for e in sol.edges]
    assert sorted(edge_targets + list(sol.supervised)) == sorted(table.targets())
    for e in sol.edges:
        assert set(e.sources) <= set(sol.roots) and 1 <= len(e.sources) <= 5
        assert e.HasField("affinity") and 0 < e.affinity <= 1


def test_the_client_returns_exactly_the_cores_answer(client: SolverClient) -> None:
    problem = TaxonomyProblem(budget=4, max_order=2, objective="quality", task_value={"rgb2sfnorm": 2.0})
    remote = client.solve_taxonomy("paper-1k", problem)
    local = solve_taxonomy(load_table("paper-1k"), problem).to_dict()
    assert remote["status"] == "OPTIMAL"
    assert _without_time(remote) == _without_time(local)
    assert set(remote) == set(local)


def _tiny_table() -> TransferTable:
    """Two targets a, b; rooting a and transferring a -> b is the hand-solved optimum."""
    def row(target: str, sources: tuple[str, ...], kind: str, aff: float) -> TransferRow:
        return TransferRow(target=target, sources=sources, kind=kind, affinity=aff, gain=0.7, quality=0.4)

    return TransferTable.from_rows([
        row("a", ("self",), "self_full_supervision", 0.25),   # root a earns sqrt = 0.5
        row("a", ("b",), "first_order", 0.09),                # b -> a earns 0.3
        row("b", ("self",), "self_full_supervision", 0.25),   # root b earns 0.5
        row("b", ("a",), "first_order", 0.64),                # a -> b earns 0.8
    ])


def test_an_inline_table_is_solved_and_infeasible_is_an_answer(client: SolverClient) -> None:
    sols = client.sweep_budgets(_tiny_table(), {"max_order": 1}, [0.0, 1.0, 2.0])
    assert [s["budget"] for s in sols] == [0.0, 1.0, 2.0]
    assert sols[0]["status"] == "INFEASIBLE" and sols[0]["objective"] is None and sols[0]["reason"]
    for s in sols[1:]:
        assert s["status"] == "OPTIMAL"
        assert s["roots"] == ["a"]
        assert s["objective"] == pytest.approx(1.3)
        assert [(e["target"], e["sources"]) for e in s["edges"]] == [("b", ["a"])]
        assert s["edges"][0]["gain"] == 0.7
    one = client.solve_taxonomy(_tiny_table(), TaxonomyProblem(budget=0))
    assert one["status"] == "INFEASIBLE"


def test_sweep_matches_single_solves(client: SolverClient) -> None:
    budgets = [2.0, 3.0]
    swept = client.sweep_budgets("paper-base", {"max_order": 2}, budgets)
    singles = [client.solve_taxonomy("paper-base", {"max_order": 2, "budget": b}) for b in budgets]
    assert [_without_time(s) for s in swept] == [_without_time(s) for s in singles]
    assert swept[0]["objective"] < swept[1]["objective"]


def test_a_paper_scale_table_sent_inline_gives_the_same_answer(client: SolverClient) -> None:
    by_name = client.solve_taxonomy("paper-16k")
    inline = client.solve_taxonomy(load_table("paper-16k"))
    assert _without_time(inline) == _without_time(by_name)
