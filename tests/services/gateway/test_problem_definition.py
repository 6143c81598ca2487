"""The taxonomy problem is defined once, in the core (taskonomy.selection.problem_from_mapping and
its bounds): the gateway's request schema states the same bounds, and the gateway, the solver
service and the core refuse the same bad problems, each naming the same field."""

from __future__ import annotations

from typing import Any

import pytest

from services.gateway.schemas import TaxonomyIn
from services.solver import convert
from services.solver.generated import solver_pb2 as pb
from taskonomy.errors import InvalidInputError
from taskonomy.selection import MAX_BUDGET, MAX_COST, MAX_ORDER, MAX_TASK_NAME, MAX_TASKS, problem_from_mapping
from tests.services.gateway._fixtures import Live

BAD: list[tuple[str, dict[str, Any], str]] = [
    ("negative budget", {"budget": -1}, "budget"),
    ("budget over the bound", {"budget": MAX_BUDGET * 2}, "budget"),
    ("zero max order", {"max_order": 0}, "max_order"),
    ("max order over the bound", {"max_order": MAX_ORDER + 1}, "max_order"),
    ("too many targets", {"targets": [f"t{i}" for i in range(MAX_TASKS + 1)]}, "targets"),
    ("empty task name", {"target_only": [""]}, "target_only"),
    ("long task name", {"source_only": ["x" * (MAX_TASK_NAME + 1)]}, "source_only"),
    ("negative cost", {"supervision_cost": {"normal": -1}}, "supervision_cost"),
    ("cost over the bound", {"task_value": {"normal": MAX_COST * 2}}, "task_value"),
]


def _proto(values: dict[str, Any]) -> pb.TaxonomyProblem:
    """The request a client that checks nothing would send."""
    msg = pb.TaxonomyProblem()
    for name in ("targets", "source_only"):
        if name in values:
            getattr(msg, name).tasks.extend(values[name])
    msg.target_only.extend(values.get("target_only", []))
    for name in ("budget", "max_order"):
        if name in values:
            setattr(msg, name, values[name])
    for name in ("supervision_cost", "transfer_cost", "task_value"):
        getattr(msg, name).update(values.get(name, {}))
    return msg


def test_the_gateway_schema_states_the_cores_bounds() -> None:
    schema = TaxonomyIn.model_json_schema()["properties"]
    assert schema["budget"]["maximum"] == MAX_BUDGET and schema["max_order"]["maximum"] == MAX_ORDER
    assert schema["target_only"]["maxItems"] == MAX_TASKS and schema["task_value"]["maxProperties"] == MAX_TASKS


@pytest.mark.integration
@pytest.mark.parametrize(("case", "values", "field"), BAD, ids=[c for c, _, _ in BAD])
def test_core_solver_and_gateway_refuse_the_same_problems(gw: Live, case: str, values: dict[str, Any],
                                                          field: str) -> None:
    with pytest.raises(InvalidInputError, match=rf"^{field}\b"):
        problem_from_mapping(values)
    with pytest.raises(InvalidInputError, match=rf"^problem\.{field}\b"):
        convert.problem_from_proto(_proto(values))
    with gw.client() as c:
        resp = c.post("/v1/taxonomy", json={"table": "paper-base", **values})
    assert resp.status_code == 422, resp.text
    assert field in resp.json()["detail"]


@pytest.mark.integration
def test_one_definition_of_cost_in_the_stored_taxonomy_the_gateway_and_the_cli(gw: Live, tmp_path) -> None:
    """The random encoder needs no labels and costs no budget: an experiment's stored taxonomy
    (the finalize job's), the gateway over that experiment's table and ``taskonomy solve`` over the
    same table file give the same roots at the same cost (they used to say 1.0 and 2.0)."""
    import json

    from typer.testing import CliRunner

    from taskonomy.cli import build_app
    from taskonomy.selection import solve_experiment as stored_taxonomy
    from taskonomy.store import ArtifactStore
    from tests.unit.selection.test_experiment import free_random_encoder_params, free_random_encoder_table

    table = free_random_encoder_table()
    stored = stored_taxonomy(table, free_random_encoder_params())

    path = tmp_path / "table.csv"
    table.write(path)
    cli = CliRunner().invoke(build_app(), ["solve", str(path), "--targets", "normal,depth_zbuffer", "--target-only",
                                           "reshading", "--source-only", "random", "--budget", "2", "--max-order",
                                           "1", "--json"])
    assert cli.exit_code == 0, cli.output
    solved = json.loads(cli.stdout)

    ArtifactStore(str(gw.store_dir)).put_bytes("tables/cost-test.csv", path.read_bytes())
    gw.ctx.state.create("cost-test", {"name": "cost-test"})
    gw.ctx.state.set_result("cost-test", {"table": "tables/cost-test.csv", "store": str(gw.store_dir)})
    gw.ctx.state.set_state("cost-test", "SUCCEEDED")
    with gw.client() as c:
        res = c.post("/v1/taxonomy", json={"table": "cost-test", "targets": ["normal", "depth_zbuffer"],
                                           "target_only": ["reshading"], "source_only": ["random"], "budget": 2,
                                           "max_order": 1})
    assert res.status_code == 200, res.text
    served = res.json()

    for answer in (stored, solved, served):
        assert answer["status"] == "OPTIMAL"
        assert sorted(answer["roots"]) == ["depth_zbuffer", "normal", "random"]
        assert answer["cost"] == 2.0  # two supervised roots; the random encoder is free
