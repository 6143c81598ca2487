"""Exact evaluation of a root set, and the solution object built from it.

For a fixed set of roots ``R`` the taxonomy BIP decomposes: every receiver that is not a root
independently takes its best edge whose sources are all in ``R``. This is the reference every
solver's answer is re-evaluated with (in float64), so the reported objective never carries a
solver's tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskonomy.selection._problem import Edge, Instance, TaxonomySolution


@dataclass
class Evaluation:
    feasible: bool
    value: float
    cost: float
    choices: list[int]        # per receiver: edge index, or -1 when rooted (or infeasible)
    missing: int = -1         # first receiver without an admissible edge, when infeasible


def evaluate(inst: Instance, roots: int) -> Evaluation:
    """Objective, cost and best edges of root bitmask ``roots`` (budget not checked)."""
    value = float(sum(inst.root_value[i] for i in range(inst.n) if roots >> i & 1))
    cost = float(sum(inst.cost[i] for i in range(inst.n) if roots >> i & 1))
    choices: list[int] = []
    for k, edges in enumerate(inst.edges):
        r = inst.receiver_root[k]
        if r >= 0 and roots >> r & 1:
            choices.append(-1)
            continue
        best, best_v = -1, -1.0
        for j, (mask, v, _row) in enumerate(edges):
            if mask & roots == mask and v > best_v:
                best, best_v = j, v
        if best < 0:
            return Evaluation(False, float("-inf"), cost, choices, missing=k)
        choices.append(best)
        value += best_v
        cost += float(inst.transfer_cost[k])
    return Evaluation(True, value, cost, choices)


def useful_roots(inst: Instance, roots: int) -> int:
    """``roots`` without source-only roots that no chosen edge reads (they only cost budget)."""
    ev = evaluate(inst, roots)
    if not ev.feasible:
        return roots
    used = 0
    for k, j in enumerate(ev.choices):
        if j >= 0:
            used |= inst.edges[k][j][0]
    for i in range(inst.n):
        if roots >> i & 1 and inst.root_value[i] == 0.0 and not used >> i & 1 and _is_source_only(inst, i):
            roots &= ~(1 << i)
    return roots


def _is_source_only(inst: Instance, i: int) -> bool:
    return i not in inst.receiver_root


def _edge(inst: Instance, k: int, j: int) -> Edge:
    mask, v, row = inst.edges[k][j]
    return Edge(target=inst.receivers[k], sources=row.sources, affinity=row.affinity, gain=row.gain,
                quality=row.quality, value=v)


def solution_from_roots(inst: Instance, roots: int, *, solve_time_s: float, backend: str) -> TaxonomySolution:
    """An OPTIMAL :class:`TaxonomySolution` for the (optimal) root bitmask ``roots``."""
    roots = useful_roots(inst, roots)
    ev = evaluate(inst, roots)
    assert ev.feasible, "solution_from_roots needs a feasible root set"
    root_names = [inst.tasks[i] for i in range(inst.n) if roots >> i & 1]
    supervised = [inst.receivers[k] for k, j in enumerate(ev.choices) if j < 0]
    edges = [_edge(inst, k, j) for k, j in enumerate(ev.choices) if j >= 0]
    return TaxonomySolution(status="OPTIMAL", objective=ev.value, roots=root_names, edges=edges,
                            solve_time_s=solve_time_s, reason=None, budget=inst.budget,
                            max_order=inst.max_order, objective_name=inst.objective, cost=ev.cost,
                            supervised=supervised, backend=backend)


def infeasible(inst: Instance, reason: str, *, solve_time_s: float, backend: str) -> TaxonomySolution:
    return TaxonomySolution(status="INFEASIBLE", objective=None, roots=[], edges=[], solve_time_s=solve_time_s,
                            reason=reason, budget=inst.budget, max_order=inst.max_order,
                            objective_name=inst.objective, backend=backend)
