"""The taxonomy: a binary integer program over roots and transfer edges (OR-Tools), budget sweeps,
root stability, the paper's higher-order candidate beam, and the paper's significance test (the
taxonomy's percentile among random feasible policies).

>>> from taskonomy.affinity import load_table
>>> from taskonomy.selection import TaxonomyProblem, solve_taxonomy
>>> sol = solve_taxonomy(load_table("paper-16k"), TaxonomyProblem())
>>> sol.status, round(sol.objective, 4), sol.roots
('OPTIMAL', 5.0328, ['class_places', 'denoise', 'edge2d', 'keypoint2d', 'keypoint3d', 'rgb2sfnorm'])

Where things live (import them from ``taskonomy.selection``):

- ``_problem``: the one definition of a taxonomy problem: :class:`TaxonomyProblem`, its fields
  and bounds (``PROBLEM_FIELDS``, ``MAX_*``, ``OBJECTIVES``) and their checks
  (:func:`problem_from_mapping`, :func:`check_budgets`; a problem built directly meets the same
  ones), roles, costs, and :func:`compile_problem` into a solver :class:`Instance`. The gateway's
  request schema and the solver service's conversion use these and restate no rule;
- ``_bip``: the binary integer program (OR-Tools); ``_evaluate``: a root set's exact value;
- ``_solve``: :func:`solve_taxonomy`, :func:`sweep_budgets`, :func:`root_stability`;
- ``_experiment``: an experiment's problem (its roles, ``random`` free, its budget and order);
- ``_candidates``: the paper's higher-order candidate beam;
- ``_random_policies``: the significance test against random feasible policies;
- ``_reference``: brute force over root sets (the reference the BIP is checked against).
"""

from __future__ import annotations

from taskonomy.selection._candidates import higher_order_candidates
from taskonomy.selection._experiment import experiment_problem, solve_experiment
from taskonomy.selection._problem import (
    DEFAULT_SUPERVISION_COST,
    MAX_BUDGET,
    MAX_COST,
    MAX_ORDER,
    MAX_TASK_NAME,
    MAX_TASKS,
    OBJECTIVES,
    PROBLEM_FIELDS,
    Edge,
    Instance,
    Objective,
    TaxonomyProblem,
    TaxonomySolution,
    check_budgets,
    compile_problem,
    default_roles,
    problem_from_mapping,
    resolve_roles,
)
from taskonomy.selection._random_policies import (
    SIGNIFICANCE_BUDGETS,
    PolicyPercentile,
    percentile_of,
    random_policy_percentile,
    random_policy_percentiles,
)
from taskonomy.selection._reference import solve_brute_force
from taskonomy.selection._solve import default_budgets, root_stability, solve_taxonomy, sweep_budgets

__all__ = [
    "DEFAULT_SUPERVISION_COST", "MAX_BUDGET", "MAX_COST", "MAX_ORDER", "MAX_TASKS", "MAX_TASK_NAME", "OBJECTIVES",
    "PROBLEM_FIELDS", "SIGNIFICANCE_BUDGETS", "PolicyPercentile", "percentile_of", "random_policy_percentile",
    "random_policy_percentiles", "Edge", "Instance", "Objective", "TaxonomyProblem", "TaxonomySolution",
    "check_budgets", "compile_problem", "default_budgets", "default_roles", "experiment_problem", "solve_experiment",
    "higher_order_candidates",
    "problem_from_mapping", "resolve_roles", "root_stability", "solve_brute_force", "solve_taxonomy", "sweep_budgets",
]
