"""`taskonomy run` end to end on a tiny deterministic world: files, formats, physics, bad input."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from typer.testing import CliRunner

from taskonomy.affinity import TransferTable
from taskonomy.cli import build_app

#: Small enough for CI on 2 cores, large enough for the world's physics to show.
TINY = """\
name: tiny
dataset: {kind: world, seed: 0, size: 32}
tasks: {depth_zbuffer: target, normal: target, depth_euclidean: source_only, reshading: source_only,
        autoencoding: source_only, edge_texture: source_only}
splits: {train: 768, transfer: 128, test: 128}
model: {width: 16, rep_channels: 8, blocks: 1, stride: 4}
train: {epochs: 8, batch_size: 64, lr: 0.002}
transfer: {epochs: 12, batch_size: 32, lr: 0.002}
"""
TARGETS = ["depth_zbuffer", "normal"]


def _run(*args: str):
    return CliRunner().invoke(build_app(), ["run", *args])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One run on one torch thread: the same numbers on every machine (~70 s of one CPU core)."""
    import torch

    root = tmp_path_factory.mktemp("tiny")
    cfg = root / "tiny.yaml"
    cfg.write_text(TINY)
    out = root / "out"
    threads = torch.get_num_threads()
    try:
        res = _run("--config", str(cfg), "--out", str(out), "--quiet", "--threads", "1")
    finally:
        torch.set_num_threads(threads)
    assert res.exit_code == 0, res.output
    return out, res


def _first_order(table: TransferTable, target: str) -> dict[str, tuple[float, float]]:
    return {r.sources[0]: (r.affinity, r.gain) for r in table.rows_for(target) if r.kind == "first_order"}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_run_writes_table_taxonomy_and_report(tiny_run):
    out, res = tiny_run
    for name in ("transfers.csv", "taxonomy.json", "report.html", "affinity_after.png", "budget_sweep.png"):
        assert (out / name).is_file(), name
    table = TransferTable.read(out / "transfers.csv")
    assert sorted(table.targets()) == sorted(TARGETS)
    for t in table.targets():
        rows = table.rows_for(t)
        kinds = sorted(r.kind for r in rows)
        assert kinds.count("first_order") == 5 and "self_full_supervision" in kinds
        assert "own_encoder_small_data" in kinds and "random_encoder" in kinds
        assert sum(r.affinity for r in rows) == pytest.approx(1.0)
    tax = json.loads((out / "taxonomy.json").read_text())
    assert {"status", "objective", "roots", "edges", "budget", "max_order"} <= set(tax)
    assert tax["status"] == "OPTIMAL"
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["executed"] > 0 and summary["skipped"] == 0


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_table_shows_the_worlds_physics(tiny_run):
    out, _ = tiny_run
    table = TransferTable.read(out / "transfers.csv")
    # depth: the best source is the other depth or the normals, and it beats pixels and the
    # unrelated sources (appearance: autoencoding, 2D edges) and the random encoder
    depth = _first_order(table, "depth_zbuffer")
    best = max(depth, key=lambda s: depth[s][0])
    assert best in ("depth_euclidean", "normal"), depth
    assert depth[best][1] > 0.5, depth
    for unrelated in ("autoencoding", "edge_texture"):
        assert depth[best][0] > depth[unrelated][0], depth
    # normals: the best source is geometric, ahead of appearance
    normal = _first_order(table, "normal")
    geometric = ("reshading", "depth_zbuffer", "depth_euclidean", "principal_curvature")
    best = max(normal, key=lambda s: normal[s][0])
    assert best in geometric, normal
    assert normal[best][1] > 0.5, normal
    for unrelated in ("autoencoding", "edge_texture"):
        assert normal[best][0] > normal[unrelated][0], normal
    # a random encoder is far behind the best source of both targets
    for t in TARGETS:
        rows = {r.sources[0]: r.affinity for r in table.rows_for(t) if r.kind in ("first_order", "random_encoder")}
        assert rows["random"] < max(rows.values()) / 1.2, rows


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_rerun_resumes_everything(tiny_run):
    out, _ = tiny_run
    res = _run("--config", str(out.parent / "tiny.yaml"), "--out", str(out), "--quiet", "--no-report")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["executed"] == 0 and summary["skipped"] > 0


def _no_work(out) -> bool:
    return not os.path.exists(os.path.join(out, "artifacts"))


def test_unknown_task_fails_before_work(tmp_path):
    res = _run("--out", str(tmp_path / "o"), "--tasks", "normal,depthh")
    assert res.exit_code == 2
    assert "unknown task 'depthh'" in res.output and "known:" in res.output
    assert _no_work(tmp_path / "o")


def test_unreadable_config_fails_before_work(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks: [normal\n")
    for cfg, message in ((bad, "not valid YAML"), (tmp_path / "missing.yaml", "does not exist")):
        res = _run("--config", str(cfg), "--out", str(tmp_path / "o"))
        assert res.exit_code == 2 and message in res.output, res.output
    assert _no_work(tmp_path / "o")


def test_unwritable_output_fails_before_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = _run("--out", str(blocker / "sub"), "--tasks", "normal,reshading")
    assert res.exit_code == 2 and "cannot be written" in res.output
    res = _run("--out", str(blocker), "--tasks", "normal,reshading")
    assert res.exit_code == 2 and "not a directory" in res.output


def test_target_only_task_without_data_fails_before_work(tmp_path):
    """A Taskonomy-layout folder with rgb and normals only: a target-only reshading has no labels."""
    from PIL import Image

    root = tmp_path / "taskonomy"
    for domain in ("rgb", "normal"):
        d = root / domain / "building"
        d.mkdir(parents=True)
        for p in range(6):
            Image.fromarray(np.full((8, 8, 3), 40 * p, dtype=np.uint8)).save(
                d / f"point_{p}_view_0_domain_{domain}.png")
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(f"dataset: {{kind: folder, root: {root}, size: 8}}\n"
                   "tasks: {normal: target, reshading: target_only}\n"
                   "splits: {train: 2, transfer: 1, test: 2}\n")
    res = _run("--config", str(cfg), "--out", str(tmp_path / "o"))
    assert res.exit_code == 2
    assert "target_only task 'reshading' has no data" in res.output, res.output
    assert _no_work(tmp_path / "o")
