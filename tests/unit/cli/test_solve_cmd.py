"""`taskonomy solve` / `taskonomy sweep` over the shipped paper tables and a user file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taskonomy.affinity import load_table
from taskonomy.cli import build_app

PAPER_ROOTS = ["class_places", "denoise", "edge2d", "keypoint2d", "keypoint3d", "rgb2sfnorm"]


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_app(), list(args))
    return result.exit_code, result.stdout, result.stderr


def test_solve_paper_16k_json() -> None:
    code, out, _ = _run("solve", "paper-16k", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["status"] == "OPTIMAL" and doc["objective_name"] == "affinity"
    assert sorted(doc["roots"]) == PAPER_ROOTS
    assert round(doc["objective"], 4) == 5.0328
    assert {"target", "sources", "affinity", "gain", "quality"} <= set(doc["edges"][0])


def test_solve_readable_and_our_names_accepted() -> None:
    code, out, _ = _run("solve", "paper-16k", "--budget", "2", "--targets", "normal,depth_zbuffer",
                        "--target-only", "reshading", "--max-order", "2", "--objective", "quality")
    assert code == 0, out
    assert "OPTIMAL" in out and "objective=quality" in out
    assert "reshade" in out  # output uses the table's names
    code, out, _ = _run("solve", "paper-16k", "--budget", "1", "--targets", "rgb2sfnorm", "--source-only",
                        "rgb2depth", "--json")
    doc = json.loads(out)
    assert doc["status"] == "OPTIMAL" and doc["roots"] in (["rgb2sfnorm"], ["rgb2depth"])


def test_solve_infeasible_is_an_answer_not_an_error() -> None:
    # every source costs a label here (the random encoder, free, would make budget 0 feasible)
    code, out, _ = _run("solve", "paper-16k", "--budget", "0", "--targets", "normal", "--source-only", "rgb2depth",
                        "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["status"] == "INFEASIBLE" and "budget 0 is too small" in doc["reason"]
    # with the random encoder among the sources, budget 0 is an answer: normal transferred from it
    code, out, _ = _run("solve", "paper-16k", "--budget", "0", "--targets", "normal", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["status"] == "OPTIMAL" and doc["roots"] == ["random"] and doc["cost"] == 0.0


@pytest.mark.parametrize(("args", "needle"), [
    (["--budget", "-1"], "budget: must be >= 0, got -1"),
    (["--target-only", "foo"], "target_only: unknown task 'foo'"),
    (["--max-order", "0"], "max_order: must be an integer in 1..64, got 0"),
    (["--objective", "speed"], "objective: must be one of affinity, gain, quality"),
    (["--targets", "jigsaw"], "targets: task 'jigsaw' has no candidates"),
    (["--targets", "normal", "--source-only", "rgb2sfnorm"], "given two roles"),
])
def test_bad_input_is_one_line_exit_2(args: list[str], needle: str) -> None:
    code, out, err = _run("solve", "paper-16k", *args)
    assert code == 2
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_unknown_table_and_user_file(tmp_path: Path) -> None:
    code, _, err = _run("solve", "paper-2k")
    assert code == 2 and "built-in: paper-16k, paper-1k, paper-base" in err
    path = tmp_path / "mine.parquet"
    load_table("paper-1k").to_our_names().write(path)
    code, out, _ = _run("solve", str(path), "--budget", "3", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["status"] == "OPTIMAL" and "normal" in doc["roots"]


def test_sweep_prints_the_curve() -> None:
    code, out, _ = _run("sweep", "paper-16k", "--budget", "1", "--budget", "6", "--budget", "3", "--json")
    assert code == 0
    curve = json.loads(out)["curve"]
    assert [c["budget"] for c in curve] == [1, 6, 3]
    assert curve[0]["objective"] < curve[2]["objective"] < curve[1]["objective"]
    code, out, _ = _run("sweep", "paper-1k", "--max-order", "1")
    assert code == 0 and len(out.strip().splitlines()) == 1 + 26


def test_stability_needs_intervals_and_reports_a_share(tmp_path: Path) -> None:
    code, _, err = _run("solve", "paper-16k", "--stability", "5")
    assert code == 2 and "no affinity intervals" in err
    from dataclasses import replace

    from taskonomy.affinity import TransferTable

    rows = [replace(r, affinity_low=max(0.0, r.affinity * 0.8), affinity_high=min(1.0, r.affinity * 1.2))
            if r.affinity is not None else r for r in load_table("paper-1k").rows]
    path = tmp_path / "with_intervals.json"
    TransferTable.from_rows(rows).write(path)
    code, out, _ = _run("solve", str(path), "--budget", "2", "--max-order", "1", "--stability", "4", "--json")
    assert code == 0
    share = json.loads(out)["root_stability"]
    assert share in (0.0, 0.25, 0.5, 0.75, 1.0)
