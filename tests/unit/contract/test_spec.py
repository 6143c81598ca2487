"""ExperimentSpec: validation, aliases, roles, presets, files."""

from __future__ import annotations

import json

import pytest

from taskonomy.contract import PRESETS, ExperimentSpec, preset
from taskonomy.errors import InvalidInputError

BASE = {"tasks": ["normal", "rgb2depth"], "splits": {"train": 8, "transfer": 4, "test": 4}}


def test_aliases_become_our_names_and_roles_default():
    spec = ExperimentSpec.parse({**BASE, "tasks": ["rgb2sfnorm", "depth_zbuffer", "colorization"]})
    assert spec.task_names() == ["normal", "depth_zbuffer", "colorization"]
    assert spec.role("colorization") == "source_only"
    assert spec.targets() == ["normal", "depth_zbuffer"]
    assert spec.sources() == ["normal", "depth_zbuffer", "colorization"]


def test_unknown_task_lists_known_ones():
    with pytest.raises(InvalidInputError, match=r"unknown task 'normals'.*did you mean normal.*known: .*autoencoding"):
        ExperimentSpec.parse({**BASE, "tasks": ["normals"]})


@pytest.mark.parametrize("change, message", [
    ({"tasks": []}, "at least one task"),
    ({"tasks": ["normal", "rgb2sfnorm"]}, "listed twice"),
    ({"tasks": [{"name": "jigsaw", "role": "target"}]}, "cannot be a target"),
    ({"tasks": {"normal": "target_only"}}, "must be a source"),
    ({"tasks": {"normal": "boss"}}, "tasks"),
    ({"splits": {"train": 0, "transfer": 4, "test": 4}}, "splits.train"),
    ({"dataset": {"kind": "world", "size": 30}}, "dataset.size 30 must be a positive multiple of the encoder stride 8"),
    ({"dataset": {"kind": "cloud"}}, "dataset"),
    ({"max_order": 3, "beam": 1}, "beam"),
    ({"epochs": 3}, "epochs"),
    ({"transfer_jobs": "per-job"}, r"transfer_jobs.*per-transfer.*per-source.*per-target"),
])
def test_invalid_specs_name_the_problem(change, message):
    with pytest.raises(InvalidInputError, match=message):
        ExperimentSpec.parse({**BASE, **change})


def test_content_key_ignores_name_and_tracks_settings():
    a = ExperimentSpec.parse({**BASE, "name": "a"})
    b = ExperimentSpec.parse({**BASE, "name": "b"})
    c = ExperimentSpec.parse({**BASE, "seed": 1})
    assert a.content_key() == b.content_key() != c.content_key()
    # how transfers are scheduled does not change the results
    assert ExperimentSpec.parse({**BASE, "transfer_jobs": "per-source"}).content_key() == a.content_key()
    from taskonomy.contract import TRANSFER_JOBS

    assert ExperimentSpec.model_fields["transfer_jobs"].annotation.__args__ == TRANSFER_JOBS  # one list of modes


@pytest.mark.parametrize("name", PRESETS)
def test_presets_are_valid(name):
    spec = preset(name)
    assert spec.targets()
    if name == "quick":
        assert 6 <= len(spec.tasks) <= 9
        assert {"autoencoding", "denoising", "edge_texture", "depth_zbuffer", "normal", "reshading",
                "segment_semantic"} <= set(spec.task_names())
    if name == "standard":
        assert len(spec.tasks) == 26 and spec.max_order == 2
    if name in ("quick", "standard"):  # an 8 x 8 x 8 representation of a 32 px image
        assert spec.dataset.size == 32 and spec.model.stride == 4 and spec.model.rep_channels == 8
    if name == "paper":  # the paper's 16 x 16 x 8 representation of a 256 px image
        assert spec.dataset.size // spec.model.stride == 16 and spec.model.rep_channels == 8
    with pytest.raises(InvalidInputError, match="unknown preset"):
        preset("huge")


def test_from_file_yaml_json_and_errors(tmp_path):
    y = tmp_path / "exp.yaml"
    y.write_text("preset: quick\ntasks: [normal, reshade]\ntransfer: {epochs: 2}\n")
    spec = ExperimentSpec.from_file(y)
    assert spec.task_names() == ["normal", "reshading"]
    assert spec.transfer.epochs == 2 and spec.transfer.batch_size == preset("quick").transfer.batch_size
    j = tmp_path / "exp.json"
    j.write_text(json.dumps(BASE))
    assert ExperimentSpec.from_file(j).task_names() == ["normal", "depth_zbuffer"]
    with pytest.raises(InvalidInputError, match="does not exist"):
        ExperimentSpec.from_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks: [normal\n")
    with pytest.raises(InvalidInputError, match="not valid YAML"):
        ExperimentSpec.from_file(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- a\n- b\n")
    with pytest.raises(InvalidInputError, match="mapping"):
        ExperimentSpec.from_file(lst)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InvalidInputError, match="cannot be read|not valid"):
        ExperimentSpec.from_file(binary)
