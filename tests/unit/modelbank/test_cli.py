"""`taskonomy models list|export` and `taskonomy predict` (in-process, typer's runner)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from taskonomy.cli import build_app
from taskonomy.training import load_network
from tests.unit.modelbank._experiment import MULTI_VIEW, SINGLE_VIEW

pytestmark = pytest.mark.slow


def _cli(*args: str):
    return CliRunner().invoke(build_app(), list(args))


def test_models_list_and_export(tiny_run: Path, tmp_path: Path) -> None:
    res = _cli("models", "list", str(tiny_run), "--json")
    assert res.exit_code == 0, res.output
    listed = json.loads(res.stdout)
    assert listed["models"] and {c["role"] for c in listed["models"]} == {"task_specific", "transfer"}
    res = _cli("models", "list", str(tiny_run))
    assert res.exit_code == 0 and "task_specific" in res.stdout
    out = tmp_path / "export"
    res = _cli("models", "export", str(tiny_run), "--out", str(out), "--task-only")
    assert res.exit_code == 0, res.output
    index = json.loads((out / "models.json").read_text())["models"]
    assert sorted(e["task"] for e in index) == sorted({c["task"] for c in listed["models"]})
    for e in index:
        assert load_network(out / e["weights"]).task == e["task"]


def test_predict_writes_one_png_per_task(tiny_run: Path, tmp_path: Path) -> None:
    img = tmp_path / "photo.jpg"
    arr = (np.random.default_rng(1).random((45, 61, 3)) * 255).astype(np.uint8)
    Image.fromarray(arr).save(img, format="JPEG")
    out = tmp_path / "pred"
    res = _cli("predict", str(img), "--experiment", str(tiny_run), "--out", str(out), "--transfers")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout.strip().splitlines()[-1])
    tasks = {p["task"] for p in report["predictions"] if p["role"] == "task_specific"}
    assert tasks == set(SINGLE_VIEW) and set(report["skipped"]) == set(MULTI_VIEW)
    assert "needs 2 views" in report["skipped"]["nonfixated_pose"] and "skipped nonfixated_pose" in res.stderr
    for p in report["predictions"]:
        assert Image.open(io.BytesIO((out / p["image"]).read_bytes())).format == "PNG"
    assert (out / "input.png").is_file()


@pytest.mark.parametrize("content", [b"not an image at all", b""])
def test_predict_refuses_what_is_not_an_image(tiny_run: Path, tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    res = _cli("predict", str(bad), "--experiment", str(tiny_run), "--out", str(tmp_path / "o"))
    assert res.exit_code == 2
    assert "PNG or JPEG" in res.stderr and "Traceback" not in res.output
    assert not (tmp_path / "o").exists()  # a failed prediction leaves no empty folder behind


def test_unknown_experiment_is_a_clear_error(tmp_path: Path) -> None:
    res = _cli("models", "list", str(tmp_path / "missing"))
    assert res.exit_code == 2 and "--store" in res.stderr
    res = _cli("models", "list", "abc123", "--store", str(tmp_path))
    assert res.exit_code == 2 and "no experiment" in res.stderr
