"""The taxonomy problem of an experiment: its roles, ``random`` source-only, its max order, its budget."""

from __future__ import annotations

from typing import Any

from taskonomy.affinity import TransferTable
from taskonomy.contract import FinalizeParams, ProxyFinalizeParams
from taskonomy.selection._problem import TaxonomyProblem
from taskonomy.selection._solve import solve_taxonomy
from taskonomy.tasks import RANDOM


def experiment_problem(params: FinalizeParams | ProxyFinalizeParams, *, budget: float | None = None
                       ) -> TaxonomyProblem:
    """The taxonomy problem of an experiment (its finalize job's params), at its budget or ``budget``.

    The random encoder needs no labels, so making it a root costs no supervision budget: the
    core's definition (:data:`taskonomy.selection.DEFAULT_SUPERVISION_COST`), which the gateway and
    ``taskonomy solve`` apply to the same table too.
    """
    roles = params.roles
    targets = tuple(t for t, r in roles.items() if r == "target")
    target_only = tuple(t for t, r in roles.items() if r == "target_only")
    source_only = tuple(dict.fromkeys([*(t for t, r in roles.items() if r == "source_only"), RANDOM]))
    return TaxonomyProblem(targets=targets, source_only=source_only, target_only=target_only,
                           budget=float(params.budget if budget is None else budget), max_order=params.max_order)


def solve_experiment(table: TransferTable, params: FinalizeParams | ProxyFinalizeParams, *,
                     budget: float | None = None) -> dict[str, Any]:
    """The experiment's taxonomy over ``table`` (at its budget, or ``budget``), as JSON."""
    return dict(solve_taxonomy(table, experiment_problem(params, budget=budget)).to_dict())
