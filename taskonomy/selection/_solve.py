"""Public entry points: one taxonomy, a budget sweep (the Pareto curve), root stability."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from taskonomy.affinity import TransferRow, TransferTable
from taskonomy.errors import InvalidInputError, PreconditionError
from taskonomy.selection._bip import BipModel
from taskonomy.selection._evaluate import evaluate, infeasible, solution_from_roots, useful_roots
from taskonomy.selection._problem import (
    COEF_CLIP,
    Instance,
    TaxonomyProblem,
    TaxonomySolution,
    check_budgets,
    coefficient,
    compile_problem,
)

BACKEND = "ortools-scip"


def _min_cost(inst: Instance) -> float | None:
    """The cost of the cheapest feasible taxonomy, ignoring the budget (None if there is none)."""
    from ortools.linear_solver import pywraplp

    s = pywraplp.Solver.CreateSolver("SCIP")
    y = [s.BoolVar(f"y{i}") for i in range(inst.n)]
    obj = s.Objective()
    const = float(sum(inst.transfer_cost))
    for i in range(inst.n):
        obj.SetCoefficient(y[i], float(inst.cost[i]))
    for k, edges in enumerate(inst.edges):
        r = inst.receiver_root[k]
        assign = s.Constraint(1.0, 1.0)
        if r >= 0:
            assign.SetCoefficient(y[r], 1.0)
            obj.SetCoefficient(y[r], float(inst.cost[r] - inst.transfer_cost[k]))
        for mask, _v, _row in edges:
            x = s.NumVar(0.0, 1.0, "")
            assign.SetCoefficient(x, 1.0)
            for i in range(inst.n):
                if mask >> i & 1:
                    c = s.Constraint(-s.infinity(), 0.0)
                    c.SetCoefficient(x, 1.0)
                    c.SetCoefficient(y[i], -1.0)
    obj.SetMinimization()
    params = pywraplp.MPSolverParameters()
    params.SetDoubleParam(params.RELATIVE_MIP_GAP, 0.0)
    if s.Solve(params) != pywraplp.Solver.OPTIMAL:
        return None
    return float(obj.Value()) + const


def _infeasibility_reason(table: TransferTable, problem: TaxonomyProblem, inst: Instance) -> str:
    """Explain why no taxonomy fits (called only when there is none)."""
    loose = compile_problem(table, problem, prune=False, ignore_budget=True)
    for k, t in enumerate(loose.receivers):
        if loose.receiver_root[k] < 0 and not loose.edges[k]:
            return (f"target-only task {t!r} has no admissible edge: none of its transfers with at most "
                    f"{inst.max_order} source(s) reads only tasks that may be roots")
    cheapest = _min_cost(loose)
    if cheapest is None:
        return "no set of roots gives every target a root or an admissible edge"
    return (f"budget {inst.budget:g} is too small: the cheapest taxonomy that gives every target a root or "
            f"an edge costs {cheapest:g}")


def _solve_instance(table: TransferTable, problem: TaxonomyProblem, inst: Instance, *, hint: int | None,
                    t0: float, model: BipModel | None = None) -> TaxonomySolution:
    """Solve ``inst`` (optionally on an already built ``model`` of an instance with more edges)."""
    for k in range(len(inst.receivers)):
        if inst.receiver_root[k] < 0 and not inst.edges[k]:
            return infeasible(inst, _infeasibility_reason(table, problem, inst),
                              solve_time_s=time.perf_counter() - t0, backend=BACKEND)
    if hint is not None and not _fits(inst, hint):
        hint = None
    if model is None:
        model = BipModel(inst)
    status, roots, _ = model.solve(inst.budget, hint=hint)
    if status == "OPTIMAL" and roots is not None:
        return solution_from_roots(inst, roots, solve_time_s=time.perf_counter() - t0, backend=BACKEND)
    if status == "INFEASIBLE":
        return infeasible(inst, _infeasibility_reason(table, problem, inst),
                          solve_time_s=time.perf_counter() - t0, backend=BACKEND)
    raise RuntimeError(f"SCIP returned {status} on the taxonomy BIP")  # no time limit is set


def _fits(inst: Instance, roots: int) -> bool:
    ev = evaluate(inst, roots)
    return ev.feasible and ev.cost <= inst.budget + 1e-9


def solve_taxonomy(table: TransferTable, problem: TaxonomyProblem) -> TaxonomySolution:
    """The optimal taxonomy of ``table`` for ``problem`` (see :mod:`taskonomy.selection`).

    Returns status OPTIMAL with roots and edges, or INFEASIBLE with a ``reason``; raises
    InvalidInputError for a malformed problem (unknown task, negative budget, ...).
    """
    t0 = time.perf_counter()
    if not isinstance(table, TransferTable):
        raise InvalidInputError(f"table: expected a TransferTable, got {type(table).__name__}")
    inst = compile_problem(table, problem)
    return _solve_instance(table, problem, inst, hint=None, t0=t0)


def default_budgets(table: TransferTable, problem: TaxonomyProblem) -> list[float]:
    """1, 2, ..., number of tasks that may be roots."""
    inst = compile_problem(table, replace(problem, budget=0.0), prune=False)
    return [float(b) for b in range(1, inst.n + 1)]


def sweep_budgets(table: TransferTable, problem: TaxonomyProblem,
                  budgets: Sequence[float] | None = None) -> list[TaxonomySolution]:
    """The optimal taxonomy for every budget (default 1 .. number of tasks): the Pareto curve.

    The instance is compiled once (at the largest budget) and each solve is warm-started with
    the previous budget's optimum, which stays feasible as the budget grows.
    """
    if budgets is None:
        budgets = default_budgets(table, problem)
    budgets = check_budgets(list(budgets))
    if not budgets:
        return []
    top = max(budgets)
    base = compile_problem(table, replace(problem, budget=top))
    model = BipModel(base)
    out: dict[float, TaxonomySolution] = {}
    # 1. the largest budget; its optimum stays optimal for every budget that can pay for it
    t0 = time.perf_counter()
    best = _solve_instance(table, replace(problem, budget=top), base, hint=None, t0=t0, model=model)
    out[top] = best
    if best.status == "OPTIMAL" and best.cost is not None:
        roots = _mask(base, best.roots)
        for b in budgets:
            if b >= best.cost - 1e-12 and b not in out:
                t0 = time.perf_counter()
                out[b] = solution_from_roots(replace(base, budget=b), roots, solve_time_s=time.perf_counter() - t0,
                                             backend=BACKEND)
    # 2. the others in increasing order, each warm-started with the previous optimum
    hint: int | None = None
    for b in sorted(set(budgets)):
        if b in out:
            continue
        t0 = time.perf_counter()
        sol = _solve_instance(table, replace(problem, budget=b), replace(base, budget=b), hint=hint, t0=t0,
                              model=model)
        if sol.status == "OPTIMAL":
            hint = _mask(base, sol.roots)
        out[b] = sol
    return [_copy(out[b]) for b in budgets]


def _mask(inst: Instance, roots: Sequence[str]) -> int:
    index = {t: i for i, t in enumerate(inst.tasks)}
    return sum(1 << index[r] for r in roots)


def _copy(sol: TaxonomySolution) -> TaxonomySolution:
    return replace(sol, roots=list(sol.roots), edges=list(sol.edges), supervised=list(sol.supervised))


def root_stability(table: TransferTable, problem: TaxonomyProblem, *, samples: int = 100, seed: int = 0) -> float:
    """Fraction of resamplings whose optimal roots equal the unperturbed optimum's roots.

    Each sample draws every affinity uniformly within its interval ``[affinity_low,
    affinity_high]`` (rows without an interval keep their value) and solves again. Needs a
    table with intervals and the affinity objective; raises PreconditionError otherwise.
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise InvalidInputError(f"samples: must be an integer >= 1, got {samples!r}")
    if problem.objective != "affinity":
        raise InvalidInputError("objective: root stability resamples affinities; use objective 'affinity'")
    if not table.has_intervals:
        raise PreconditionError("table has no affinity intervals (affinity_low/affinity_high); compute "
                                "affinities with bootstrap > 0 to get them")
    base_sol = solve_taxonomy(table, problem)
    if base_sol.status != "OPTIMAL":
        raise PreconditionError(f"the unperturbed problem is infeasible: {base_sol.reason}")
    # one model for every sample: only edges dominated whatever the draw (a subset of sources
    # whose lowest coefficient beats this edge's highest) or unaffordable are dropped; each
    # sample rewrites the objective coefficients and solves again
    loose = _interval_pruned(compile_problem(table, problem, prune=False))
    model = BipModel(loose)
    slots: list[tuple[int, int]] = []          # (receiver, edge) per resampled coefficient; (-1, i) = root i
    rows = []
    for i, t in enumerate(loose.tasks):
        row = loose.self_rows.get(t)
        if row is not None and row.affinity is not None and loose.root_value[i] > 0:
            slots.append((-1, i))
            rows.append((row, float(loose.root_value[i])))
    for k, es in enumerate(loose.edges):
        for j, (_mask, v, row) in enumerate(es):
            slots.append((k, j))
            rows.append((row, v))
    position = {id(r): i for i, r in enumerate(table.rows)}
    where = np.array([position[id(r)] for r, _ in rows], dtype=int)
    weight = np.array([_weight(v, float(r.affinity or 0.0)) for r, v in rows])
    rng = np.random.default_rng(seed)
    target = set(base_sol.roots)
    same = 0
    for _ in range(samples):
        drawn = resample_affinities(table, rng)[where]
        coefs = weight * np.clip(np.sqrt(drawn), *COEF_CLIP)
        root_value = loose.root_value.copy()
        edges = [list(es) for es in loose.edges]
        for (k, j), c in zip(slots, coefs.tolist(), strict=True):
            if k < 0:
                root_value[j] = c
            else:
                mask, _v, row = edges[k][j]
                edges[k][j] = (mask, c, row)
        inst = replace(loose, root_value=root_value, edges=edges)
        model.set_objective(inst)
        status, roots, _ = model.solve(loose.budget)
        if status == "OPTIMAL" and roots is not None:
            kept = useful_roots(inst, roots)
            same += int({inst.tasks[i] for i in range(inst.n) if kept >> i & 1} == target)
    return same / samples


def resample_affinities(table: TransferTable, rng: np.random.Generator) -> np.ndarray:
    """One draw of every row's affinity, uniform within ``[affinity_low, affinity_high]``.

    Aligned with ``table.rows``; rows without an interval keep their value (NaN where the
    affinity is missing). One uniform number per row, so a seed gives the same perturbed table
    whatever the solver keeps of it.
    """
    u = rng.random(len(table.rows))
    out = np.full(len(table.rows), np.nan)
    for i, r in enumerate(table.rows):
        if r.affinity is None:
            continue
        lo = r.affinity if r.affinity_low is None else r.affinity_low
        hi = r.affinity if r.affinity_high is None else r.affinity_high
        out[i] = lo + u[i] * (hi - lo)
    return out


def _interval_pruned(inst: Instance) -> Instance:
    """``inst`` without edges that no draw within the affinity intervals can make useful.

    An edge is dropped when its sources cost more than the budget, or when another edge into the
    same receiver reads a subset of its sources and has a coefficient at the low end of its
    interval at least this edge's coefficient at the high end of its interval.
    """
    def bounds(v: float, row: TransferRow) -> tuple[float, float]:
        a = row.affinity if row.affinity is not None else 0.0
        w = _weight(v, a)
        lo = a if row.affinity_low is None else row.affinity_low
        hi = a if row.affinity_high is None else row.affinity_high
        return coefficient(lo, "affinity", w), coefficient(hi, "affinity", w)

    edges = []
    for es in inst.edges:
        cand = []
        for mask, v, row in es:
            cost = sum(float(inst.cost[i]) for i in range(inst.n) if mask >> i & 1)
            if cost <= inst.budget + 1e-9:
                cand.append((mask, v, row, *bounds(v, row)))
        cand.sort(key=lambda c: -c[3])
        kept: list[tuple[int, float, TransferRow, float, float]] = []
        for c in cand:
            if not any(k[0] & c[0] == k[0] and k[3] >= c[4] for k in kept):
                kept.append(c)
        edges.append([(m, v, row) for m, v, row, _lo, _hi in kept])
    return replace(inst, edges=edges)


def _weight(coef: float, affinity: float) -> float:
    """The relative task value r_t that produced coefficient ``coef`` from ``affinity``."""
    return coef / coefficient(affinity, "affinity", 1.0)
