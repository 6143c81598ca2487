"""Brute force over root sets: the reference the BIP is checked against (tests, benchmarks).

Enumerates every root set whose supervision cost fits the budget (vectorised with numpy over
int64 bitmasks) and evaluates each exactly (see :mod:`taskonomy.selection._evaluate`).
Exponential: meant for small instances and for the published tables at small budgets.
"""

from __future__ import annotations

import time

import numpy as np

from taskonomy.affinity import TransferTable
from taskonomy.errors import InvalidInputError
from taskonomy.selection._evaluate import infeasible, solution_from_roots
from taskonomy.selection._problem import Instance, TaxonomyProblem, TaxonomySolution, compile_problem

MAX_ROOT_SETS = 1 << 22


def root_sets(inst: Instance) -> np.ndarray:
    """All root bitmasks whose supervision cost is within the budget (int64 array)."""
    if inst.n > 62:
        raise InvalidInputError(f"brute force: at most 62 rootable tasks, got {inst.n}")
    masks = np.zeros(1, dtype=np.int64)
    costs = np.zeros(1)
    for i in range(inst.n):
        ok = costs + inst.cost[i] <= inst.budget + 1e-9
        masks = np.concatenate([masks, masks[ok] | np.int64(1 << i)])
        costs = np.concatenate([costs, costs[ok] + inst.cost[i]])
        if len(masks) > MAX_ROOT_SETS:
            raise InvalidInputError(f"brute force: more than {MAX_ROOT_SETS} root sets; instance too large")
    return masks


def brute_force_roots(inst: Instance) -> tuple[int | None, float]:
    """(best root bitmask or None if infeasible, its objective)."""
    masks = root_sets(inst)
    bit = [((masks >> i) & 1).astype(bool) for i in range(inst.n)]
    value = np.zeros(len(masks))
    cost = np.zeros(len(masks))
    for i in range(inst.n):
        value += np.where(bit[i], inst.root_value[i], 0.0)
        cost += np.where(bit[i], inst.cost[i], 0.0)
    feasible = np.ones(len(masks), dtype=bool)
    for k, edges in enumerate(inst.edges):
        r = inst.receiver_root[k]
        rooted = bit[r] if r >= 0 else np.zeros(len(masks), dtype=bool)
        best = np.full(len(masks), -np.inf)
        for m, v, _row in edges:
            mm = np.int64(m)
            best = np.where(((masks & mm) == mm) & (best < v), v, best)
        feasible &= rooted | (best > -np.inf)
        value += np.where(rooted, 0.0, best)
        cost += np.where(rooted, 0.0, inst.transfer_cost[k])
    feasible &= cost <= inst.budget + 1e-9
    if not feasible.any():
        return None, float("-inf")
    value = np.where(feasible, value, -np.inf)
    i = int(np.argmax(value))
    return int(masks[i]), float(value[i])


def solve_brute_force(table: TransferTable, problem: TaxonomyProblem, *, prune: bool = False) -> TaxonomySolution:
    """The optimal taxonomy by enumeration (no pruning of dominated edges by default)."""
    t0 = time.perf_counter()
    inst = compile_problem(table, problem, prune=prune)
    roots, _ = brute_force_roots(inst)
    dt = time.perf_counter() - t0
    if roots is None:
        return infeasible(inst, "no root set within the budget gives every target a root or an edge",
                          solve_time_s=dt, backend="brute-force")
    return solution_from_roots(inst, roots, solve_time_s=dt, backend="brute-force")
