from __future__ import annotations

import pytest

from taskonomy.errors import InvalidInputError, NotFoundError
from taskonomy.tasks import BUILTIN_TASKS, IMAGE_KEYS, OutputSpec, TaskRegistry, TaskSpec, get_task, registry

EXPECTED = {
    "autoencoding", "denoising", "colorization", "inpainting", "jigsaw", "random", "edge_texture",
    "edge_occlusion", "keypoints2d", "keypoints3d", "reshading", "depth_zbuffer", "depth_euclidean", "normal",
    "principal_curvature", "segment_unsup2d", "segment_unsup25d", "segment_semantic", "class_object",
    "class_scene", "room_layout", "vanishing_point", "egomotion", "fixated_pose", "nonfixated_pose",
    "point_matching",
}
SOURCE_ONLY = {"colorization", "inpainting", "jigsaw", "random"}


def test_all_26_tasks_registered() -> None:
    assert set(registry().names()) == EXPECTED
    assert len(registry()) == 26


@pytest.mark.parametrize("spec", BUILTIN_TASKS, ids=lambda s: s.name)
def test_spec_is_consistent(spec: TaskSpec) -> None:
    assert get_task(spec.alias) is spec
    assert get_task(spec.name) is spec
    assert spec.can_be_target == (spec.name not in SOURCE_ONLY)
    assert all(k in IMAGE_KEYS for k in spec.inputs)
    if spec.trainable:
        assert spec.target and spec.output.kind != "none" and spec.output.channels > 0
        assert spec.loss != "none" and spec.test_loss != "none"
    shape = spec.output.target_shape(32)
    if spec.output.kind == "pixels":
        assert shape == (spec.output.channels, 32, 32)
    d = spec.to_dict()
    assert {"name", "alias", "input", "output"} <= set(d)


def test_paper_aliases_match_published_tables() -> None:
    aliases = {s.alias for s in BUILTIN_TASKS}
    assert {"rgb2sfnorm", "rgb2depth", "rgb2mist", "impainting_whole", "segmentsemantic_rb", "class_places",
            "vanishing_point_well_defined", "non_fixated_pose", "point_match"} <= aliases


def test_unknown_task_lists_known_names() -> None:
    with pytest.raises(NotFoundError) as err:
        get_task("normals")
    msg = str(err.value)
    assert "normals" in msg and "did you mean normal" in msg and "depth_zbuffer" in msg


def test_duplicates_refused() -> None:
    reg = TaskRegistry()
    spec = TaskSpec("x", "xa", "X", ("rgb",), "x", OutputSpec("pixels", 1), "l1", "l1")
    reg.register(spec)
    with pytest.raises(InvalidInputError, match="already registered"):
        reg.register(spec)
    with pytest.raises(InvalidInputError, match="already registered"):
        reg.register(TaskSpec("y", "x", "Y", ("rgb",), "y", OutputSpec("pixels", 1), "l1", "l1"))


def test_bad_loss_refused() -> None:
    reg = TaskRegistry()
    with pytest.raises(InvalidInputError, match="loss"):
        reg.register(TaskSpec("x", "x", "X", ("rgb",), "x", OutputSpec("pixels", 1), "hinge", "l1"))  # type: ignore[arg-type]


def test_entry_point_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = TaskSpec("plugin_task", "plugin_task", "Plugin", ("rgb",), "plugin_task", OutputSpec("pixels", 1),
                      "l1", "l1")

    class EP:
        name = "plugin"

        def load(self) -> object:
            return lambda: [plugin]

    import taskonomy.tasks._registry as reg_mod

    monkeypatch.setattr(reg_mod, "entry_points", lambda group: [EP()] if group == "taskonomy.tasks" else [])
    reg = TaskRegistry()
    assert reg.load_entry_points() == ["plugin_task"]
    assert reg.get("plugin_task") is plugin
