"""An experiment's taxonomy problem: its roles, the random encoder free, its budget and order."""

from __future__ import annotations

from taskonomy.affinity import TransferRow, TransferTable
from taskonomy.contract import ExperimentSpec, FinalizeParams, build_graph
from taskonomy.selection import experiment_problem, solve_taxonomy

#: Two targets, a target-only task whose best edge is from the random encoder.
ROLES = {"normal": "target", "depth_zbuffer": "target", "reshading": "target_only"}


def free_random_encoder_table() -> TransferTable:
    """A table in which, at budget 2, the target-only task's best edge is from the random encoder."""
    def row(target: str, source: str, kind: str, affinity: float) -> TransferRow:
        return TransferRow(target=target, sources=(source,), kind=kind, affinity=affinity, gain=0.6, quality=0.4)

    rows = []
    for t, other in (("normal", "depth_zbuffer"), ("depth_zbuffer", "normal")):
        rows += [row(t, "self", "self_full_supervision", 0.5), row(t, other, "first_order", 0.3),
                 row(t, "random", "random_encoder", 0.2)]
    rows += [row("reshading", "normal", "first_order", 0.2), row("reshading", "random", "random_encoder", 0.8)]
    return TransferTable.from_rows(rows)


def free_random_encoder_params() -> FinalizeParams:
    """The finalize params of an experiment with :data:`ROLES` at budget 2."""
    spec = ExperimentSpec.parse({"tasks": ROLES, "splits": {"train": 8, "transfer": 4, "test": 4}, "budget": 2})
    return build_graph(spec).finalize_params()


def test_an_experiments_taxonomy_does_not_charge_budget_for_the_random_encoder() -> None:
    """The random encoder needs no labels: with budget 2 both targets stay supervised and the
    target-only task still takes its best edge, the one from the random encoder (issue 17.9)."""
    sol = solve_taxonomy(free_random_encoder_table(), experiment_problem(free_random_encoder_params())).to_dict()
    assert sol["status"] == "OPTIMAL" and sol["cost"] == 2.0
    assert set(sol["supervised"]) == {"normal", "depth_zbuffer"}
    assert [e["sources"] for e in sol["edges"]] == [["random"]]
