"""The published 16k table: the authors' worked example and brute force at other budgets/orders."""

from __future__ import annotations

import pytest

from taskonomy.affinity import load_table
from taskonomy.selection import TaxonomyProblem, solve_brute_force, solve_taxonomy

PAPER_ROOTS = ["class_places", "denoise", "edge2d", "keypoint2d", "keypoint3d", "rgb2sfnorm"]


def test_worked_example_defaults() -> None:
    sol = solve_taxonomy(load_table("paper-16k"), TaxonomyProblem())
    assert sol.status == "OPTIMAL"
    assert sorted(sol.roots) == PAPER_ROOTS
    assert round(sol.objective, 4) == 5.0328
    # every target is a root or receives exactly one edge whose sources are all roots
    targets = set(load_table("paper-16k").targets())
    assert {e.target for e in sol.edges} | set(sol.supervised) == targets
    assert not {e.target for e in sol.edges} & set(sol.roots)
    for e in sol.edges:
        assert set(e.sources) <= set(sol.roots)
        assert len(e.sources) <= 5


@pytest.mark.parametrize(("budget", "max_order"), [(2, 1), (3, 2), (4, 24), (5, 3)])
def test_paper_16k_agrees_with_brute_force(budget: int, max_order: int) -> None:
    table = load_table("paper-16k")
    problem = TaxonomyProblem(budget=budget, max_order=max_order)
    ours = solve_taxonomy(table, problem)
    ref = solve_brute_force(table, problem)
    assert ours.status == ref.status == "OPTIMAL"
    assert ours.objective == pytest.approx(ref.objective, abs=1e-9)
    assert ours.cost <= budget


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["affinity", "gain", "quality"])
def test_paper_16k_budget6_brute_force_all_objectives(objective: str) -> None:
    table = load_table("paper-16k")
    problem = TaxonomyProblem(budget=6, max_order=24, objective=objective)  # type: ignore[arg-type]
    ours = solve_taxonomy(table, problem)
    ref = solve_brute_force(table, problem, prune=True)
    assert ours.objective == pytest.approx(ref.objective, abs=1e-9)
