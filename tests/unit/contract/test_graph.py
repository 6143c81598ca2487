"""The job graph: pure, content-addressed, incremental."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from taskonomy.contract import ExperimentSpec, TrainParams, TransferGroupParams, TransferParams, build_graph
from taskonomy.contract.graph import STAGES, Job
from taskonomy.errors import PreconditionError

BASE = {"tasks": ["normal", "depth_zbuffer", "reshading"], "splits": {"train": 8, "transfer": 4, "test": 4}}


def _spec(**kw):
    return ExperimentSpec.parse({**BASE, **kw})


def test_jobs_and_order():
    g = build_graph(_spec())
    counts = g.stage_counts()
    # 3 trained nets + random; features per (source, split); per target: 2 first order + own + random
    assert counts["train"] == 4 and counts["features"] == 8 and counts["transfers"] == 3 * 4
    assert counts["baselines"] == 3 * 2 and counts["finalize"] == 1 and counts["plan"] == 0
    order = g.order()
    pos = {j.id: i for i, j in enumerate(order)}
    for job in order:
        assert all(pos[d] < pos[job.id] for d in g.deps(job.id))
    assert [j.stage for j in order] == sorted((j.stage for j in order), key=STAGES.index)
    assert order[-1].kind == "finalize"
    queues = {j.kind: j.queue for j in order}
    assert queues["train"] == "train" and queues["transfer"] == "transfer" and queues["finalize"] == "control"


def test_jobs_are_json_round_trippable():
    import json

    for job in build_graph(_spec()).order():
        assert Job.from_dict(json.loads(json.dumps(job.to_dict()))) == job


def test_keys_do_not_depend_on_the_experiment_name_and_reuse_across_experiments():
    a = build_graph(_spec(name="one"))
    b = build_graph(_spec(name="two"))
    assert set(a.jobs) == set(b.jobs)
    bigger = build_graph(_spec(tasks=[*BASE["tasks"], "depth_euclidean"]))
    new = set(bigger.jobs) - set(a.jobs)
    kinds = sorted(bigger.jobs[j].kind for j in new)
    # the new task: its net, 2 feature caches, 3 transfers into it + own + random, 3 transfers
    # from it, self, pixels; a render job for its labels (the old sample keys are reused) and a new finalize.
    assert kinds.count("train") == 1 and kinds.count("features") == 2
    assert kinds.count("transfer") == 3 + 2 + 3 and kinds.count("evaluate") == 1 and kinds.count("baseline") == 1
    assert kinds.count("finalize") == 1 and kinds.count("render") == 1
    assert len(new) == 1 + 2 + 8 + 2 + 1 + 1
    # everything old but the render and finalize jobs is reused, and so are the old sample keys
    assert {a.jobs[j].kind for j in set(a.jobs) - set(bigger.jobs)} == {"finalize", "render"}
    old_render = next(j for j in a.jobs.values() if j.kind == "render")
    new_render = next(j for j in bigger.jobs.values() if j.kind == "render")
    assert set(old_render.outputs) < set(new_render.outputs)


def test_settings_change_keys():
    a = set(build_graph(_spec()).jobs)
    assert a.isdisjoint(set(build_graph(_spec(seed=3)).jobs) - {j for j in a if j.startswith("render")})
    transfer_changed = build_graph(_spec(transfer={"epochs": 9}))
    same_nets = {j.id for j in transfer_changed.jobs.values() if j.kind in ("train", "features", "render")}
    assert same_nets <= a


def test_higher_order_planning_and_expansion():
    g = build_graph(_spec(tasks=["normal", "depth_zbuffer", "reshading", "edge_texture"], max_order=2, beam=3))
    plans = [j for j in g.jobs.values() if j.kind == "plan_higher_order"]
    assert len(plans) == 4
    fin = next(j for j in g.jobs.values() if j.kind == "finalize")
    plan = plans[0]
    added = g.expand(plan, {"candidates": [["depth_zbuffer", "reshading"], ["depth_zbuffer", "edge_texture"]]})
    assert len(added) == 2 and all(j.stage == "higher_order" for j in added)
    assert {j.id for j in added} <= g.deps(fin.id)
    assert g.expand(plan, {"candidates": [["depth_zbuffer", "reshading"]]}) == []
    assert g.order()[-1].id == fin.id


def test_target_only_tasks_get_no_network():
    g = build_graph(_spec(tasks={"normal": "target", "depth_zbuffer": "target", "reshading": "target_only"}))
    trained = {j.params.task for j in g.jobs.values() if isinstance(j.params, TrainParams)}
    assert trained == {"normal", "depth_zbuffer"}
    into = [p for p in (j.params for j in g.jobs.values()) if isinstance(p, TransferParams) and p.target == "reshading"]
    assert sorted(p.sources for p in into) == [("depth_zbuffer",), ("normal",), ("random",)]


def test_graph_module_is_pure():
    code = "import sys, taskonomy.contract.graph as g, taskonomy.contract as s; " \
           "g.build_graph(s.preset('standard')); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("by", ["source", "target"])
def test_grouped_transfer_jobs_keep_the_transfers_outputs(by):
    tasks = ["normal", "depth_zbuffer", "reshading", "edge_texture"]
    plain = build_graph(_spec(tasks=tasks, max_order=2, beam=3))
    grouped = build_graph(_spec(tasks=tasks, max_order=2, beam=3, transfer_jobs=f"per-{by}"))
    assert _spec(transfer_jobs=f"per-{by}").content_key() == _spec().content_key()  # the same results
    singles = [j for j in plain.jobs.values() if j.kind == "transfer"]
    groups = [j for j in grouped.jobs.values() if j.kind == "transfer_group"]
    # one job per source (4 tasks' encoders + random) or per target, none left alone
    assert sorted(j.typed(TransferGroupParams).group for j in groups) == sorted([*tasks, "random"] if by == "source"
                                                                                else tasks)
    assert not [j for j in grouped.jobs.values() if j.kind == "transfer"]
    assert sorted(k for j in groups for k in j.outputs) == sorted(j.outputs[0] for j in singles)
    by_output = {j.outputs[0]: j for j in singles}
    for g in groups:  # members are the plain jobs' params, all of the group's source or target
        p = g.typed(TransferGroupParams)
        assert [by_output[m.output].params for m in p.members] == p.members
        assert {m.sources[0] if by == "source" else m.target for m in p.members} == {p.group}
        assert set(g.inputs) == {k for m in p.members for k in by_output[m.output].inputs}
        assert g.queue == "transfer" and g.stage == "transfers" and p.by == by
    # planning and finalize now wait for the groups, and everything else is unchanged
    fin = next(j for j in grouped.jobs.values() if j.kind == "finalize")
    assert {j.id for j in groups} <= grouped.deps(fin.id)
    plan = next(j for j in grouped.jobs.values() if j.kind == "plan_higher_order")
    assert grouped.deps(plan.id) <= {j.id for j in groups}
    assert set(plain.jobs) - {j.id for j in singles} == set(grouped.jobs) - {j.id for j in groups}
    added = grouped.expand(plan, {"candidates": [["depth_zbuffer", "reshading"]]})  # higher orders: one job each
    assert [j.kind for j in added] == ["transfer"]
    order = grouped.order()
    pos = {j.id: i for i, j in enumerate(order)}
    assert all(pos[d] < pos[j.id] for j in order for d in grouped.deps(j.id))


def test_jobs_round_trip_as_json_and_malformed_params_are_refused() -> None:
    from taskonomy.contract import Job, JobKind
    from taskonomy.errors import InvalidInputError

    g = build_graph(_spec(max_order=2, beam=2))
    for job in g.jobs.values():
        assert Job.from_dict(json.loads(json.dumps(job.to_dict()))) == job
    train = next(j for j in g.jobs.values() if j.kind == JobKind.TRAIN).to_dict()
    with pytest.raises(InvalidInputError, match="malformed train job params: model.width"):
        Job.from_dict({**train, "params": {**train["params"], "model": {"width": 0}}})
    with pytest.raises(InvalidInputError, match="unknown job kind 'bogus'; known: render"):
        Job.from_dict({**train, "kind": "bogus"})


def test_the_affinity_estimate_is_part_of_the_graph() -> None:
    """``affinity.estimate: halving`` is one transfer_halving job whose outputs are keyed apart from
    trained losses; ``proxy`` stops after the features with one proxy_finalize job."""
    from taskonomy.contract import FeaturesParams, JobKind, ProxyFinalizeParams, TransferHalvingParams

    tasks = ["normal", "depth_zbuffer", "reshading"]
    trained = build_graph(_spec(tasks=tasks))
    firsts = {j.outputs[0] for j in trained.jobs.values() if j.kind == JobKind.TRANSFER}
    halved = build_graph(_spec(tasks=tasks, affinity={"estimate": "halving", "halving_budget": 0.5}))
    [job] = [j for j in halved.jobs.values() if j.kind == JobKind.TRANSFER_HALVING]
    assert job.typed(TransferHalvingParams).budget == 0.5 and len(job.outputs) == len(firsts)
    assert not firsts & set(job.outputs)
    assert _spec(affinity={"estimate": "halving"}).content_key() != _spec().content_key()
    proxy = build_graph(_spec(tasks=tasks, affinity={"estimate": "proxy", "proxy": "hscore"}))
    assert {j.stage for j in proxy.jobs.values()} == {"render", "train", "features", "finalize"}
    [fin] = [j for j in proxy.jobs.values() if j.kind == JobKind.PROXY_FINALIZE]
    assert fin.typed(ProxyFinalizeParams).method == "hscore" and set(proxy.results) == {"table", "taxonomy", "proxies"}
    assert all(proxy.producer.get(k) for k in fin.inputs)  # every input is a features or data artifact
    feats = [j.typed(FeaturesParams) for j in proxy.jobs.values() if j.kind == JobKind.FEATURES]
    assert feats and {p.split for p in feats} == {"transfer"}  # the test split is not encoded: nothing reads it
    with pytest.raises(PreconditionError, match="by proxy"):
        proxy.finalize_params()
