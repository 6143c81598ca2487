from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from taskonomy.cli import build_app


def _run(*args: str):
    return CliRunner().invoke(build_app(), list(args))


def test_render_writes_shards_and_reports_one_json_line(tmp_path: Path) -> None:
    result = _run("world", "render", "--n", "2", "--test", "1", "--size", "16", "--out", str(tmp_path),
                  "--workers", "1", "--quiet")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout.strip().splitlines()[-1])
    folder = Path(info["folder"])
    assert info["train"] == 2 and info["test"] == 1
    shards = sorted(folder.rglob("*.safetensors"))
    assert len(shards) == 2
    inspected = _run("world", "inspect", str(shards[0]))
    assert inspected.exit_code == 0, inspected.output
    keys = json.loads(inspected.stdout)["keys"]
    assert keys["rgb"][0][1:] == [3, 16, 16]


def test_preview_writes_a_labelled_sheet(tmp_path: Path) -> None:
    out = tmp_path / "sheet.png"
    result = _run("world", "preview", "--index", "1", "--size", "24", "--out", str(out))
    assert result.exit_code == 0, result.output
    with Image.open(out) as im:
        assert im.size[0] > 600 and im.size[1] > 600


def test_preview_of_chosen_tasks(tmp_path: Path) -> None:
    out = tmp_path / "few.png"
    assert _run("world", "preview", "--size", "16", "--out", str(out), "--task", "normal", "--task",
                "rgb2depth").exit_code == 0
    assert out.exists()


@pytest.mark.parametrize("args", [
    ["world", "render", "--n", "0", "--size", "16"],
    ["world", "render", "--n", "2", "--size", "8"],
    ["world", "render", "--n", "2", "--size", "100000"],
    ["world", "render", "--n", "2000000"],
    ["world", "preview", "--size", "4", "--out", "x.png"],
    ["world", "preview", "--index", "-1", "--out", "x.png"],
    ["world", "preview", "--task", "no_such_task", "--out", "x.png"],
    ["world", "preview", "--out", "sheet.jpg"],
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = _run(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_unwritable_outputs_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    for args in (["world", "render", "--n", "1", "--size", "16", "--out", str(blocker / "sub"), "--quiet"],
                 ["world", "render", "--n", "1", "--size", "16", "--out", str(blocker), "--quiet"],
                 ["world", "preview", "--size", "16", "--out", str(blocker / "sheet.png")],
                 ["world", "preview", "--size", "16", "--out", str(tmp_path / "missing" / "sheet.png")]):
        result = _run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1


def test_corrupt_shard_is_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    result = _run("world", "inspect", str(bad))
    assert result.exit_code == 2
    assert "cannot be read" in result.stderr and "Traceback" not in result.output
    assert _run("world", "inspect", str(tmp_path / "none.safetensors")).exit_code == 2
