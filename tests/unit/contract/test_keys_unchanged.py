"""Artifact keys, job ids, experiment ids and the job order do not change unless they are meant to.

``data/keys_recorded.json`` holds, for the presets and two custom specs (a world with options, partial
model and training blocks, a target-only task, second order; a folder dataset with options), the spec as
stored, its content key, every job with its output keys and the quick preset's job order. It was first
recorded before the spec's blocks became typed (issue 18), and re-recorded once for issue 24, when the
keys were made to cover every block resolved (defaults filled in), the world's renderer version and
pipeline version 2: every key changed then, on purpose (an old store's artifacts could be of another
renderer or other defaults); and again for issue 22 (world version 4, the presets' larger training
splits). The same spec must give the same keys, or every stored artifact would be
recomputed. Re-record only when a key is *meant* to change (a renderer or pipeline version bump, a
changed default; ``python -m tests.unit.contract.test_keys_unchanged`` prints the new file).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from taskonomy.contract import ExperimentSpec, build_graph, preset

RECORDED = Path(__file__).parent / "data" / "keys_recorded.json"

CUSTOM: dict[str, Any] = {
    "name": "custom",
    "dataset": {"kind": "world", "seed": 3, "size": 48, "options": {"max_objects": 4, "ambient": 0.5}},
    "tasks": {"normal": "target", "depth_zbuffer": "target", "reshading": "target_only", "edge_texture": "source_only"},
    "splits": {"train": 16, "transfer": 8, "test": 8}, "model": {"width": 8, "norm": "group"},
    "train": {"epochs": 2, "batch_size": 4, "lr": 0.01},
    "transfer": {"epochs": 3, "weight_decay": 0.001, "precision": "bf16"},
    "max_order": 2, "beam": 2, "seed": 7, "budget": 3.0, "bootstrap": 10,
}
FOLDER: dict[str, Any] = {
    "dataset": {"kind": "folder", "root": "/data/taskonomy", "size": 64, "options": {"buildings": ["a", "b"]}},
    "tasks": ["normal", "depth_zbuffer"], "splits": {"train": 8, "transfer": 4, "test": 4},
}


def specs() -> dict[str, ExperimentSpec]:
    return {"quick": preset("quick"), "standard": preset("standard"), "custom": ExperimentSpec.parse(CUSTOM),
            "folder": ExperimentSpec.parse(FOLDER)}


def graph_keys(spec: ExperimentSpec) -> dict[str, Any]:
    """The spec as stored, its content key, and every job id with its outputs (higher-order jobs
    included: each plan job is expanded with its target's first two other sources)."""
    g = build_graph(spec)
    for plan in [j for j in g.jobs.values() if j.kind == "plan_higher_order"]:
        others = [s for s in spec.sources() if s != plan.params.target][:2]
        g.expand(plan, {"target": plan.params.target, "candidates": [others]})
    return {"spec": spec.model_dump(mode="json"), "content_key": spec.content_key(),
            "jobs": {j.id: sorted(j.outputs) for j in g.jobs.values()}}


def record() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, spec in specs().items():
        entry = graph_keys(spec)
        if name == "standard":  # 740 jobs: kept as a digest
            jobs = entry.pop("jobs")
            entry["jobs_sha256"] = hashlib.sha256(json.dumps(jobs, sort_keys=True).encode()).hexdigest()
            entry["n_jobs"] = len(jobs)
        if name == "quick":
            entry["order"] = [j.id for j in build_graph(spec).order()]
        out[name] = entry
    return out


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    return dict(json.loads(RECORDED.read_text()))


@pytest.mark.parametrize("name", ["quick", "standard", "custom", "folder"])
def test_keys_are_those_recorded(name: str, recorded: dict[str, Any]) -> None:
    now = record()[name]
    before = recorded[name]
    assert now["spec"] == before["spec"]  # the stored spec (what experiment records and cards hold)
    assert now["content_key"] == before["content_key"]  # the experiment id
    for field in ("jobs", "jobs_sha256", "n_jobs", "order"):
        if field in before:
            assert now[field] == before[field], field


def test_a_spec_read_back_from_its_record_keeps_its_keys() -> None:
    for spec in specs().values():
        again = ExperimentSpec.parse(json.loads(json.dumps(spec.model_dump(mode="json"))))
        assert graph_keys(again) == graph_keys(spec)


def test_a_block_given_in_full_is_the_same_experiment() -> None:
    """``model: {}`` and the same block with every default written out describe the same networks:
    the same stored spec, experiment id and artifact keys (the keys hash the blocks resolved)."""
    base = {**FOLDER, "model": {}, "dataset": {**FOLDER["dataset"], "options": {}}}
    full_model = ExperimentSpec.parse(base).model.to_dict()
    full = {**base, "model": full_model, "dataset": {**base["dataset"], "options": {"buildings": None}}}
    assert set(full_model) == set(type(ExperimentSpec.parse(base).model).model_fields)
    assert graph_keys(ExperimentSpec.parse(base)) == graph_keys(ExperimentSpec.parse(full))
    world = {**CUSTOM, "model": {}, "dataset": {"kind": "world", "seed": 3, "size": 48}}
    spelled = {**world, "model": full_model,
               "dataset": {**world["dataset"], "options": ExperimentSpec.parse(world).dataset.options.to_dict()}}
    assert graph_keys(ExperimentSpec.parse(world)) == graph_keys(ExperimentSpec.parse(spelled))
    changed = {**world, "model": {**full_model, "width": full_model["width"] + 1}}
    assert ExperimentSpec.parse(changed).content_key() != ExperimentSpec.parse(world).content_key()


if __name__ == "__main__":
    print(json.dumps(record(), indent=1, sort_keys=True))
