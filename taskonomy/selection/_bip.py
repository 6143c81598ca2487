"""The taxonomy binary integer program on OR-Tools (SCIP through pywraplp).

Formulation (after :func:`compile_problem` removed dominated and unaffordable edges)::

    max  Σ_i root_value_i · y_i + Σ_k Σ_{e ∈ E_k} v_e · x_e
    s.t. y_{r(k)} + Σ_{e ∈ E_k} x_e = 1                 every target k (y term absent: target-only)
         Σ_{e ∈ E_k, s ∈ S_e} x_e ≤ y_s                every receiver k, every source s it reads
         Σ_i c_i y_i + Σ_k tc_k (1 - y_{r(k)}) ≤ B
         y ∈ {0, 1},  x ≥ 0

Only the root variables ``y`` are binary. For fixed binary ``y`` the constraints on a receiver's
``x`` describe a simplex over its admissible edges (the aggregated source constraints force
every edge reading a non-root to 0 and are otherwise implied), whose LP optimum is a vertex:
a single edge. So the continuous ``x`` lose nothing and branching happens on ~26 variables.
The aggregated per-(receiver, source) constraints are also tighter than the textbook
``x_e ≤ y_s`` per edge and source.

The solution is re-evaluated exactly from its root set (:func:`evaluate`); in a budget sweep
the model is built once and each solve is warm-started with the previous budget's optimum.

References: Zamir et al., "Taskonomy: Disentangling Task Transfer Learning", CVPR 2018, §3.4.
"""

from __future__ import annotations

import time
from typing import Any

from taskonomy.selection._evaluate import evaluate
from taskonomy.selection._problem import Instance

#: SCIP settings, tuned on the published tables (all three, all objectives, budgets 3/6/10,
#: orders 5/24) without touching optimality (relative gap 0; every node is still bounded by its
#: LP). With the affinity objective the LP relaxation is usually integral at the root; with gain
#: or quality a few dozen nodes close the gap, and presolving (probing ~1,000 continuous
#: variables), restarts, many cut rounds and large-neighbourhood heuristics cost more than they
#: save: CPU time over those 36 gain/quality instances fell from 3.2 s to 1.0 s, the slowest
#: from 0.73 s to 0.07 s. A tight feasibility tolerance keeps the budget row exact to 1e-9, as
#: in the reference enumeration.
SCIP_PARAMS = "\n".join([
    "presolving/maxrounds = 0",
    "presolving/maxrestarts = 0",
    "separating/maxroundsroot = 3",
    "separating/maxrounds = 0",
    "heuristics/feaspump/freq = -1",
    "heuristics/rens/freq = -1",
    "heuristics/alns/freq = -1",
    "heuristics/rins/freq = -1",
    "heuristics/crossover/freq = -1",
    "heuristics/gins/freq = -1",
    "numerics/feastol = 1e-9",
]) + "\n"


class BipModel:
    """The BIP of one compiled instance, built once and solvable for several budgets.

    Only the budget row's right-hand side changes between solves (a budget sweep), so the model
    is extracted once; each solve can be warm-started with a complete hint built from a root set.
    """

    def __init__(self, inst: Instance, *, threads: int = 1) -> None:
        from ortools.linear_solver import pywraplp

        t0 = time.perf_counter()
        self.inst = inst
        s = pywraplp.Solver.CreateSolver("SCIP")
        if s is None:  # pragma: no cover - every ortools wheel ships SCIP
            raise RuntimeError("OR-Tools was built without SCIP")
        if not s.SetSolverSpecificParametersAsString(SCIP_PARAMS):  # pragma: no cover - fixed SCIP version
            raise RuntimeError("SCIP rejected the solver parameters")
        if threads > 1:
            s.SetNumThreads(threads)
        self.solver = s
        n = inst.n
        y = [s.BoolVar(f"y{i}") for i in range(n)]
        objective = s.Objective()
        for i in range(n):
            if inst.root_value[i]:
                objective.SetCoefficient(y[i], float(inst.root_value[i]))
        self._const = float(sum(inst.transfer_cost))
        budget = s.Constraint(-s.infinity(), inst.budget - self._const, "budget")
        for i in range(n):
            budget.SetCoefficient(y[i], float(inst.cost[i]))
        xs: list[list[Any]] = []
        for k, edges in enumerate(inst.edges):
            r = inst.receiver_root[k]
            assign = s.Constraint(1.0, 1.0, f"assign{k}")
            if r >= 0:
                assign.SetCoefficient(y[r], 1.0)
                if inst.transfer_cost[k]:
                    budget.SetCoefficient(y[r], float(inst.cost[r] - inst.transfer_cost[k]))
            link: dict[int, Any] = {}
            row: list[Any] = []
            for j, (mask, v, _row) in enumerate(edges):
                x = s.NumVar(0.0, 1.0, f"x{k}_{j}")
                row.append(x)
                objective.SetCoefficient(x, v)
                assign.SetCoefficient(x, 1.0)
                m, i = mask, 0
                while m:
                    if m & 1:
                        c = link.get(i)
                        if c is None:
                            c = link[i] = s.Constraint(-s.infinity(), 0.0, f"link{k}_{i}")
                            c.SetCoefficient(y[i], -1.0)
                        c.SetCoefficient(x, 1.0)
                    m >>= 1
                    i += 1
            xs.append(row)
        objective.SetMaximization()
        self.y, self.x, self.budget_row = y, xs, budget
        self.build_s = time.perf_counter() - t0

    def set_objective(self, inst: Instance) -> None:
        """Replace every objective coefficient by those of ``inst`` (same tasks and edges)."""
        assert inst.n == self.inst.n and [len(e) for e in inst.edges] == [len(r) for r in self.x]
        objective = self.solver.Objective()
        for i in range(inst.n):
            objective.SetCoefficient(self.y[i], float(inst.root_value[i]))
        for row, edges in zip(self.x, inst.edges, strict=True):
            for x, (_mask, v, _row) in zip(row, edges, strict=True):
                objective.SetCoefficient(x, v)
        self.inst = inst

    def solve(self, budget: float | None = None, *, hint: int | None = None) -> tuple[str, int | None, float]:
        """Solve at ``budget`` (default: the instance's). Returns (status, root bitmask, seconds).

        ``status`` is ``OPTIMAL`` or ``INFEASIBLE`` (``NOT_SOLVED`` if SCIP gave up otherwise).
        """
        from ortools.linear_solver import pywraplp

        t0 = time.perf_counter()
        inst, s = self.inst, self.solver
        b = inst.budget if budget is None else float(budget)
        self.budget_row.SetUb(b - self._const)
        if hint is not None:
            self._hint(hint)
        params = pywraplp.MPSolverParameters()
        params.SetDoubleParam(params.RELATIVE_MIP_GAP, 0.0)
        status = s.Solve(params)
        dt = time.perf_counter() - t0
        if status == pywraplp.Solver.OPTIMAL:
            roots = sum(1 << i for i in range(inst.n) if self.y[i].solution_value() > 0.5)
            return "OPTIMAL", roots, dt
        if status == pywraplp.Solver.INFEASIBLE:
            return "INFEASIBLE", None, dt
        return "NOT_SOLVED", None, dt

    def _hint(self, roots: int) -> None:
        """A complete hint (every variable) from a root set, so SCIP does not discard it."""
        ev = evaluate(self.inst, roots)
        if not ev.feasible:
            return
        variables = list(self.y)
        values = [float(roots >> i & 1) for i in range(self.inst.n)]
        for k, row in enumerate(self.x):
            variables.extend(row)
            values.extend(1.0 if j == ev.choices[k] else 0.0 for j in range(len(row)))
        self.solver.SetHint(variables, values)
