"""Every artifact key covers what decides the artifact's content (issue 24).

A store from before a renderer change or a changed default must not be reused: the world's
version (``WORLD_VERSION``) enters the dataset identity, and every block enters the keys resolved
(defaults filled in), so a change of either gives new keys for everything it touches.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pydantic import BaseModel

import taskonomy.contract.world as world_spec
from taskonomy.contract import ExperimentSpec, WorldDataset, WorldOptions, build_graph
from taskonomy.contract.config import ModelConfig, TrainSettings
from taskonomy.contract.graph import JobGraph
from taskonomy.execution import LocalExecutor
from taskonomy.store import ArtifactStore
from taskonomy.tasks import RANDOM

#: Partial blocks: the fields a default change below touches are left unset.
SPEC: dict[str, Any] = {
    "dataset": {"kind": "world", "seed": 3, "size": 16},
    "tasks": {"normal": "target", "depth_zbuffer": "target", "edge_texture": "source_only"},
    "splits": {"train": 16, "transfer": 8, "test": 8},
    "model": {"rep_channels": 4, "blocks": 1, "transfer_width": 8, "hidden": 16},
    "train": {"epochs": 1, "batch_size": 16}, "transfer": {"epochs": 1, "batch_size": 16},
    "max_order": 2, "beam": 2,
}
FOLDER: dict[str, Any] = {**SPEC, "dataset": {"kind": "folder", "root": "/data/taskonomy", "size": 16}}


def outputs(graph: JobGraph) -> dict[str, set[str]]:
    """Every output key of ``graph`` by kind (``data``, ``nets``, ``features``, ``losses``, ...)."""
    by_kind: dict[str, set[str]] = {}
    for job in graph.jobs.values():
        for key in job.outputs:
            by_kind.setdefault(key.split("/", 1)[0], set()).add(key)
    return by_kind


def bump_world_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(world_spec, "WORLD_VERSION", world_spec.WORLD_VERSION + 1)


def test_a_new_world_version_changes_every_key_of_a_world_experiment(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ExperimentSpec.parse(SPEC)
    before, before_id = outputs(build_graph(spec)), spec.content_key()
    bump_world_version(monkeypatch)
    after, after_id = outputs(build_graph(ExperimentSpec.parse(SPEC))), ExperimentSpec.parse(SPEC).content_key()
    assert set(before) == set(after) >= {"data", "nets", "features", "losses", "plans", "previews", "results"}
    # Nothing of the old store is reused but the random encoder: its weights are a function of the
    # model and the seed alone (no data), the same network under any world.
    assert before["nets"] & after["nets"] == {k for k in before["nets"] if k.startswith(f"nets/{RANDOM}-")}
    for kind in set(before) - {"nets"}:
        assert not before[kind] & after[kind], kind
    assert after_id != before_id  # nor is the finished experiment served again


def test_the_world_version_does_not_enter_a_folder_experiment(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ExperimentSpec.parse(FOLDER)
    before, before_id = outputs(build_graph(spec)), spec.content_key()
    bump_world_version(monkeypatch)
    assert outputs(build_graph(ExperimentSpec.parse(FOLDER))) == before
    assert ExperimentSpec.parse(FOLDER).content_key() == before_id


@contextmanager
def changed_default(cls: type[BaseModel], name: str, value: Any, *embedders: type[BaseModel]) -> Iterator[None]:
    """``cls.name`` defaults to ``value`` (as after an edit of its definition) inside the block;
    ``embedders`` are the models holding ``cls``, rebuilt with it (and rebuilt again after)."""
    field = cls.model_fields[name]
    old = field.default
    assert old != value

    def rebuild() -> None:
        for model in (cls, *embedders):
            model.model_rebuild(force=True)

    field.default = value
    try:
        rebuild()
        yield
    finally:
        field.default = old
        rebuild()


@pytest.mark.parametrize(("cls", "name", "value", "embedders", "changed"), [
    (ModelConfig, "width", 24, (ExperimentSpec,), {"nets", "features", "losses", "plans", "previews", "results"}),
    (TrainSettings, "lr", 5e-3, (ExperimentSpec,), {"nets", "features", "losses", "plans", "previews", "results"}),
    (WorldOptions, "ambient", 0.4, (WorldDataset, ExperimentSpec),
     {"data", "nets", "features", "losses", "plans", "previews", "results"}),
])
def test_a_changed_default_changes_the_keys_it_decides(cls: type[BaseModel], name: str, value: Any,
                                                      embedders: tuple[type[BaseModel], ...],
                                                      changed: set[str]) -> None:
    spec = ExperimentSpec.parse(SPEC)
    before, before_id = outputs(build_graph(spec)), spec.content_key()
    with changed_default(cls, name, value, *embedders):
        spec_now = ExperimentSpec.parse(SPEC)
        assert spec_now.model_dump(mode="json") != spec.model_dump(mode="json")  # the same mapping, resolved anew
        after, after_id = outputs(build_graph(spec_now)), spec_now.content_key()
    assert after_id != before_id
    for kind in before:
        if kind not in changed:
            assert before[kind] == after[kind], kind
        elif kind == "nets" and cls is not ModelConfig:  # the random encoder: no data, no training
            assert before[kind] & after[kind] == {k for k in before[kind] if k.startswith(f"nets/{RANDOM}-")}
        elif kind == "features" and cls is TrainSettings:  # the random encoder's, on the same data
            assert before[kind] & after[kind] == {k for k in before[kind] if k.startswith(f"features/{RANDOM}.")}
        else:
            assert not before[kind] & after[kind], kind
    assert ExperimentSpec.parse(SPEC).content_key() == before_id  # the default restored, the keys are back


@pytest.mark.slow
def test_a_store_from_before_a_renderer_change_is_not_reused(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tiny pipeline run twice on one store: after a world version bump, every job runs again."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        tiny = {**SPEC, "tasks": ["normal"], "max_order": 1, "model": {**SPEC["model"], "width": 8}}
        store = ArtifactStore(tmp_path / "store")
        first = LocalExecutor(store).run(build_graph(ExperimentSpec.parse(tiny)))
        assert first.executed and not first.skipped
        again = LocalExecutor(store).run(build_graph(ExperimentSpec.parse(tiny)))
        assert not again.executed  # the same world: everything is reused
        bump_world_version(monkeypatch)
        graph = build_graph(ExperimentSpec.parse(tiny))
        second = LocalExecutor(store).run(graph)
        # every job again, but the random encoder's (a function of the model and the seed alone)
        assert [graph.jobs[j].kind for j in second.skipped] == ["random_encoder"]
        assert len(second.executed) == len(first.executed) - 1
    finally:
        torch.set_num_threads(threads)
