"""Every entry point refuses the same invalid specs at the door, naming the same fields the same way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from taskonomy.cli import build_app
from taskonomy.contract import ExperimentSpec
from taskonomy.errors import InvalidInputError
from taskonomy.modelbank import MANIFEST, open_experiment
from tests.unit._bad_specs import BAD_SPECS, GOOD, expected_problems

CASES = [pytest.param(body, fields, id=name) for name, body, fields in BAD_SPECS]


def test_the_good_spec_passes_every_entry_point(tmp_path: Path) -> None:
    path = tmp_path / "good.json"
    path.write_text(json.dumps(GOOD))
    res = CliRunner().invoke(build_app(), ["spec", "--config", str(path)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["spec"] == ExperimentSpec.model_validate(GOOD).model_dump(mode="json")


@pytest.mark.parametrize("body, fields", CASES)
def test_model_validate_locates_every_field(body, fields) -> None:
    """The gateway and `taskonomy submit` call model_validate: each error's loc names its field."""
    with pytest.raises(ValidationError) as info:
        ExperimentSpec.model_validate(body)
    tags = ("world", "folder")  # a discriminated union puts the dataset's kind into the loc
    located = {".".join(str(p) for p in e["loc"] if p not in tags) for e in info.value.errors()}
    paths = fields[:1] if fields[0] == "" else fields
    assert set(paths) <= located
    line = expected_problems(body)
    assert "\n" not in line
    for f in fields:
        if f:  # a field's problem starts with its path; a whole-spec problem mentions the fields
            assert (f"{f}: " if f in paths else f) in line


@pytest.mark.parametrize("body, fields", CASES)
def test_core_spec_loading_gives_the_same_line(body, fields, tmp_path: Path) -> None:
    """ExperimentSpec.parse and from_file (the workers' loading), and an experiment record."""
    problems = expected_problems(body)
    with pytest.raises(InvalidInputError) as parsed:
        ExperimentSpec.parse(body)
    assert str(parsed.value) == f"experiment spec: {problems}"
    for suffix, dump in ((".json", json.dumps), (".yaml", yaml.safe_dump)):
        path = tmp_path / f"spec{suffix}"
        path.write_text(dump(body))
        with pytest.raises(InvalidInputError) as loaded:
            ExperimentSpec.from_file(path)
        assert str(loaded.value) == f"config file {str(path)!r}: {problems}"
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / MANIFEST).write_text(json.dumps({"spec": body, "id": "abc", "store": str(tmp_path / "store")}))
    with pytest.raises(InvalidInputError) as opened:
        open_experiment(str(run_dir))
    assert str(opened.value) == f"experiment 'abc': {problems}"


@pytest.mark.parametrize("command", ["run", "spec"])
@pytest.mark.parametrize("body, fields", CASES)
def test_cli_exits_2_with_one_line_before_any_work(command, body, fields, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(body))
    out = tmp_path / "out"
    args = ["run", "--config", str(path), "--out", str(out), "--quiet"] if command == "run" else \
        ["spec", "--config", str(path)]
    res = CliRunner().invoke(build_app(), args)
    assert res.exit_code == 2, res.output
    assert res.stderr == f"error: config file {str(path)!r}: {expected_problems(body)}\n"
    assert not out.exists()  # nothing was created, let alone trained


def test_a_preset_with_overrides_is_checked_like_a_spec(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("preset: quick\ntransfer: {lr: 10, weight_decay: 50}\n")
    res = CliRunner().invoke(build_app(), ["run", "--config", str(path), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "transfer.lr: Input should be less than 10; transfer.weight_decay: Input should be less than 10" \
        in res.stderr


def test_the_schema_of_the_whole_spec_is_published() -> None:
    res = CliRunner().invoke(build_app(), ["spec", "--schema"])
    assert res.exit_code == 0, res.output
    schema = json.loads(res.stdout)
    assert schema == ExperimentSpec.model_json_schema()
    defs = schema["$defs"]
    assert defs["ModelConfig"]["additionalProperties"] is False
    assert defs["ModelConfig"]["properties"]["width"]["minimum"] == 1
    assert defs["TrainSettings"]["properties"]["lr"]["exclusiveMaximum"] == 10
    assert defs["WorldOptions"]["properties"]["fov_deg"]["maximum"] == 120
    assert set(defs["WorldOptions"]["properties"]) == {"min_objects", "max_objects", "fov_deg", "patch_fov_deg",
                                                       "noise_sigma", "ambient"}
    res = CliRunner().invoke(build_app(), ["spec"])
    assert res.exit_code == 2 and "exactly one of" in res.stderr
