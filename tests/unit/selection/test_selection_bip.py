"""The taxonomy BIP: hand-solvable instances, infeasibility as an answer, bad input, and
property tests against brute force over root sets on random small instances."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskonomy.affinity import TransferRow, TransferTable, load_table
from taskonomy.errors import InvalidInputError, PreconditionError
from taskonomy.selection import (
    TaxonomyProblem,
    TaxonomySolution,
    root_stability,
    solve_brute_force,
    solve_taxonomy,
    sweep_budgets,
)
from taskonomy.selection._solve import resample_affinities


def _self(t: str, a: float, gain: float = 0.9) -> TransferRow:
    return TransferRow(t, ("self",), "self_full_supervision", a, gain, 0.5)


def _edge(t: str, sources: tuple[str, ...], a: float, gain: float = 0.5, quality: float = 0.3) -> TransferRow:
    return TransferRow(t, sources, "first_order" if len(sources) == 1 else "higher_order", a, gain, quality)


def _two_tasks() -> TransferTable:
    return TransferTable.from_rows([
        _self("A", 0.64), _edge("A", ("B",), 0.25),
        _self("B", 0.49), _edge("B", ("A",), 0.36),
    ])


def test_two_tasks_by_hand() -> None:
    table = _two_tasks()
    one = solve_taxonomy(table, TaxonomyProblem(budget=1, source_only=()))
    assert one.status == "OPTIMAL" and one.roots == ["A"]
    assert one.objective == pytest.approx(0.8 + 0.6)
    assert [(e.target, e.sources, e.affinity) for e in one.edges] == [("B", ("A",), 0.36)]
    two = solve_taxonomy(table, TaxonomyProblem(budget=2, source_only=()))
    assert two.roots == ["A", "B"] and two.objective == pytest.approx(1.5) and two.edges == []
    none = solve_taxonomy(table, TaxonomyProblem(budget=0.5, source_only=()))
    assert none.status == "INFEASIBLE" and none.objective is None
    assert "budget 0.5 is too small" in (none.reason or "") and "costs 1" in (none.reason or "")


def test_source_only_root_earns_nothing_but_feeds_edges() -> None:
    table = TransferTable.from_rows([
        _self("A", 0.01), _edge("A", ("S",), 1.0), _edge("A", ("S", "T"), 0.5),
    ])
    sol = solve_taxonomy(table, TaxonomyProblem(targets=("A",), source_only=("S", "T"), budget=1))
    assert sol.roots == ["S"] and sol.objective == pytest.approx(1.0) and sol.supervised == []
    # a transfer cost on A makes the edge unaffordable: A must be supervised itself
    sol = solve_taxonomy(table, TaxonomyProblem(targets=("A",), source_only=("S",), budget=1,
                                                transfer_cost={"A": 1.0}))
    assert sol.roots == ["A"] and sol.objective == pytest.approx(0.1)
    # cheaper supervision of S lets both fit
    sol = solve_taxonomy(table, TaxonomyProblem(targets=("A",), source_only=("S",), budget=1,
                                                transfer_cost={"A": 0.5}, supervision_cost={"S": 0.5}))
    assert sol.roots == ["S"] and sol.cost == pytest.approx(1.0)


def test_higher_order_edge_needs_every_source_rooted_and_max_order() -> None:
    table = TransferTable.from_rows([
        _self("A", 0.25), _self("B", 0.25),
        _self("C", 0.01), _edge("C", ("A", "B"), 0.81), _edge("C", ("A",), 0.04),
        _edge("A", ("B",), 0.0), _edge("B", ("A",), 0.0),
    ])
    sol = solve_taxonomy(table, TaxonomyProblem(budget=2, source_only=()))
    assert sol.roots == ["A", "B"] and sol.objective == pytest.approx(0.5 + 0.5 + 0.9)
    sol = solve_taxonomy(table, TaxonomyProblem(budget=2, max_order=1, source_only=()))
    assert sol.objective == pytest.approx(0.5 + 0.5 + 0.2)  # the pair is dropped: C takes A
    # an affinity of 0 is clipped to a coefficient of 1e-5, so the edge stays usable
    sol = solve_taxonomy(table, TaxonomyProblem(budget=1, max_order=1, source_only=()))
    assert sol.objective == pytest.approx(0.5 + 1e-5 + 0.2)


def test_target_only_and_objectives_and_task_values() -> None:
    table = TransferTable.from_rows([
        _self("A", 0.64, gain=0.7), _edge("A", ("B",), 0.25, gain=0.8, quality=0.6),
        _self("B", 0.49, gain=0.6), _edge("B", ("A",), 0.36, gain=0.4, quality=0.2),
    ])
    sol = solve_taxonomy(table, TaxonomyProblem(targets=("B",), target_only=("A",), source_only=(), budget=1))
    assert sol.roots == ["B"] and [e.target for e in sol.edges] == ["A"]
    gain = solve_taxonomy(table, TaxonomyProblem(budget=1, objective="gain", source_only=()))
    assert gain.roots == ["B"] and gain.objective == pytest.approx(0.6 + 0.8)  # raw win rates
    quality = solve_taxonomy(table, TaxonomyProblem(budget=1, objective="quality", source_only=()))
    assert quality.roots == ["B"] and quality.objective == pytest.approx(0.5 + 0.6)
    weighted = solve_taxonomy(table, TaxonomyProblem(budget=1, task_value={"B": 10.0}, source_only=()))
    assert weighted.roots == ["B"] and weighted.objective == pytest.approx(7.0 + 0.5)


def test_infeasible_target_only_names_the_task() -> None:
    table = TransferTable.from_rows([_self("A", 0.5), _self("B", 0.5), _edge("B", ("A", "C"), 0.3),
                                     _self("C", 0.5)])
    sol = solve_taxonomy(table, TaxonomyProblem(targets=("A", "C"), target_only=("B",), budget=5, max_order=1))
    assert sol.status == "INFEASIBLE"
    assert "target-only task 'B' has no admissible edge" in (sol.reason or "")
    assert sol.to_dict()["status"] == "INFEASIBLE" and sol.to_dict()["roots"] == []


@pytest.mark.parametrize(("problem", "needle"), [
    (TaxonomyProblem(budget=-1), "budget: must be >= 0, got -1"),
    (TaxonomyProblem(budget=math.nan), "budget: must be a finite number"),
    (TaxonomyProblem(max_order=0), "max_order: must be an integer in 1..64, got 0"),
    # a problem built directly meets the same bounds as one from a mapping (problem_from_mapping)
    (TaxonomyProblem(max_order=65), "max_order: must be an integer in 1..64, got 65"),
    (TaxonomyProblem(budget=2e6), "budget: must be <= 1e+06"),
    (TaxonomyProblem(targets=tuple(f"t{i}" for i in range(65))), "targets: at most 64 tasks"),
    (TaxonomyProblem(objective="speed"), "objective: must be one of"),  # type: ignore[arg-type]
    (TaxonomyProblem(target_only=("foo",)), "target_only: unknown task 'foo'; known:"),
    (TaxonomyProblem(targets=("normal", "nope")), "targets: unknown task 'nope'"),
    (TaxonomyProblem(targets=("jigsaw",)), "targets: task 'jigsaw' has no candidates"),
    (TaxonomyProblem(targets=("normal",), target_only=("rgb2sfnorm",)), "given two roles"),
    (TaxonomyProblem(supervision_cost={"normal": -2}), "supervision_cost[normal]: must be >= 0"),
    (TaxonomyProblem(task_value={"normal": math.nan}), "task_value[normal]: must be a finite number"),
    (TaxonomyProblem(transfer_cost={"bogus": 1.0}), "transfer_cost: unknown task 'bogus'"),
    (TaxonomyProblem(targets=(), target_only=()), "nothing to solve"),
])
def test_bad_problems_raise_clear_errors(problem: TaxonomyProblem, needle: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        solve_taxonomy(load_table("paper-16k"), problem)
    assert needle in str(err.value)


def test_roles_accept_our_names_and_paper_aliases() -> None:
    table = load_table("paper-16k")
    a = solve_taxonomy(table, TaxonomyProblem(targets=("normal", "depth_zbuffer"), budget=1))
    b = solve_taxonomy(table, TaxonomyProblem(targets=("rgb2sfnorm", "rgb2depth"), budget=1))
    assert a.to_dict()["roots"] == b.to_dict()["roots"] and a.objective == b.objective
    assert all(r in table.tasks() for r in a.roots)  # output uses the table's names


# -- property tests against brute force ---------------------------------------------------------
def _random_instance(seed: int) -> tuple[TransferTable, TaxonomyProblem]:
    rng = np.random.default_rng(seed)
    n_t, n_s = int(rng.integers(2, 6)), int(rng.integers(0, 4))
    targets = [f"t{i}" for i in range(n_t)]
    sources = [f"s{i}" for i in range(n_s)] + (["random"] if rng.random() < 0.5 else [])
    pool = targets + sources
    rows: list[TransferRow] = []
    for t in targets:
        rows.append(_self(t, float(rng.random()), gain=float(rng.random())))
        others = [p for p in pool if p != t]
        seen: set[frozenset[str]] = set()
        for _ in range(int(rng.integers(0, 2 * len(others) + 1))):
            k = int(rng.integers(1, min(3, len(others)) + 1))
            src = tuple(str(x) for x in rng.choice(others, size=k, replace=False))
            if frozenset(src) in seen or (k == 1 and src[0] == "random"):
                continue
            seen.add(frozenset(src))
            rows.append(_edge(t, src, float(rng.random()) ** 3, gain=float(rng.random()),
                              quality=float(rng.random())))
        if "random" in pool and rng.random() < 0.5:
            rows.append(TransferRow(t, ("random",), "random_encoder", float(rng.random()) ** 3, 0.1, 0.1))
    table = TransferTable.from_rows(rows)
    in_table = set(table.tasks())
    target_only = tuple(t for t in targets[1:] if rng.random() < 0.25)
    problem = TaxonomyProblem(
        targets=tuple(t for t in targets if t not in target_only),
        source_only=tuple(s for s in sources if s in in_table),
        target_only=target_only,
        budget=float(rng.choice([0, 0.5, 1, 1.5, 2, 3, 4, 5])),
        max_order=int(rng.integers(1, 4)),
        objective=str(rng.choice(["affinity", "gain", "quality"])),  # type: ignore[arg-type]
        supervision_cost={p: float(rng.choice([0.5, 1.0, 2.0])) for p in pool if p in in_table and rng.random() < 0.5},
        transfer_cost={t: float(rng.choice([0.0, 0.5])) for t in targets if rng.random() < 0.3},
        task_value={t: float(rng.uniform(0.5, 2.0)) for t in targets if rng.random() < 0.3},
    )
    return table, problem


def _check_solution(table: TransferTable, problem: TaxonomyProblem, sol: TaxonomySolution) -> None:
    """Validate a solution from the table directly, independently of the solver's data."""
    assert problem.targets is not None
    roots = set(sol.roots)
    receivers = {e.target for e in sol.edges}
    assert len(receivers) == len(sol.edges)
    for t in problem.targets:
        assert (t in roots) != (t in receivers)
    for t in problem.target_only:
        assert t in receivers and t not in roots
    def coef(v: float, t: str) -> float:
        f = math.sqrt(v) if problem.objective == "affinity" else v
        return problem.task_value.get(t, 1.0) * min(max(f, 1e-5), 1.0)
    total = 0.0
    for t in problem.targets:
        if t in roots:
            total += coef(table.rows_for(t)[0].value(problem.objective) or 0.0, t)
    cost = sum(problem.supervision_cost.get(r, 0.0 if r == "random" else 1.0) for r in roots)  # random: no labels
    for e in sol.edges:
        assert set(e.sources) <= roots and e.target not in e.sources and len(e.sources) <= problem.max_order
        row = next(r for r in table.rows_for(e.target) if set(r.sources) == set(e.sources))
        total += coef(row.value(problem.objective) or 0.0, e.target)
        cost += problem.transfer_cost.get(e.target, 0.0)
    assert cost <= problem.budget + 1e-9 and cost == pytest.approx(sol.cost)
    assert total == pytest.approx(sol.objective, abs=1e-9)


@settings(max_examples=120, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_solver_agrees_with_brute_force(seed: int) -> None:
    table, problem = _random_instance(seed)
    ours = solve_taxonomy(table, problem)
    ref = solve_brute_force(table, problem)
    assert ours.status == ref.status
    if ref.status == "OPTIMAL":
        assert ours.objective == pytest.approx(ref.objective, abs=1e-9)
        _check_solution(table, problem, ours)
    else:
        assert ours.reason


def test_sweep_is_monotone_and_matches_single_solves() -> None:
    table, problem = _random_instance(3)
    sols = sweep_budgets(table, problem, [4, 0, 1, 2, 3])
    assert [s.budget for s in sols] == [4, 0, 1, 2, 3]
    for s in sols:
        single = solve_taxonomy(table, replace(problem, budget=s.budget))
        assert s.status == single.status and (s.objective or 0) == pytest.approx(single.objective or 0)
    values = [s.objective for s in sorted(sols, key=lambda s: s.budget) if s.objective is not None]
    assert values == sorted(values)
    curve = sweep_budgets(load_table("paper-16k"), TaxonomyProblem(max_order=1))
    assert [s.budget for s in curve] == list(range(1, 27))


def test_root_stability() -> None:
    rows = [
        TransferRow("A", ("self",), "self_full_supervision", 0.64, 0.9, 0.5, 0.6, 0.7),
        TransferRow("A", ("B",), "first_order", 0.25, 0.5, 0.3, 0.1, 0.6),
        TransferRow("B", ("self",), "self_full_supervision", 0.49, 0.9, 0.5, 0.3, 0.8),
        TransferRow("B", ("A",), "first_order", 0.36, 0.5, 0.3, 0.3, 0.4),
    ]
    table = TransferTable.from_rows(rows)
    problem = TaxonomyProblem(budget=1, source_only=())
    share = root_stability(table, problem, samples=40, seed=0)
    assert 0.0 < share < 1.0
    assert root_stability(table, problem, samples=40, seed=0) == share
    tight = TransferTable.from_rows([replace(r, affinity_low=r.affinity, affinity_high=r.affinity) for r in rows])
    assert root_stability(tight, problem, samples=5) == 1.0
    with pytest.raises(PreconditionError, match="no affinity intervals"):
        root_stability(load_table("paper-16k"), TaxonomyProblem())


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_sweep_agrees_with_brute_force(seed: int) -> None:
    table, problem = _random_instance(seed)
    budgets = [5.0, 0.0, 1.0, 1.5, 2.0, 3.0]
    for sol in sweep_budgets(table, problem, budgets):
        ref = solve_brute_force(table, replace(problem, budget=sol.budget))
        assert sol.status == ref.status
        if ref.status == "OPTIMAL":
            assert sol.objective == pytest.approx(ref.objective, abs=1e-9)
            _check_solution(table, replace(problem, budget=sol.budget), sol)


@pytest.mark.parametrize("seed", [0, 1])
def test_root_stability_equals_solving_each_perturbed_table(seed: int) -> None:
    """The one-model resampling gives exactly what re-solving every perturbed table gives."""
    base = load_table("paper-1k")
    rows = [replace(r, affinity_low=max(0.0, r.affinity * 0.5), affinity_high=min(1.0, r.affinity * 1.5))
            if r.affinity is not None else r for r in base.rows]
    table = TransferTable.from_rows(rows)
    problem = TaxonomyProblem(budget=3, max_order=2)
    share = root_stability(table, problem, samples=6, seed=seed)
    roots = set(solve_taxonomy(table, problem).roots)
    rng = np.random.default_rng(seed)
    same = 0
    for _ in range(6):
        drawn = resample_affinities(table, rng)
        perturbed = TransferTable.from_rows(
            replace(r, affinity=None if np.isnan(a) else float(a), affinity_low=None, affinity_high=None)
            for r, a in zip(table.rows, drawn, strict=True))
        same += set(solve_taxonomy(perturbed, problem).roots) == roots
    assert share == same / 6
