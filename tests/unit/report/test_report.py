"""The HTML report: figures beside it, relative links, every task's predictions, label rendering."""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np
import pytest
from PIL import Image

from taskonomy.affinity import TransferRow, TransferTable
from taskonomy.contract import FinalizeOutputs, FinalizeParams, ModelConfig, TrainSettings
from taskonomy.report import write_report
from taskonomy.report._render import dense_pair, global_pair, image_rgb
from taskonomy.store import ArtifactStore
from taskonomy.tasks import SEMANTIC_UNCERTAIN, get_task

TASKS = ["normal", "depth_zbuffer", "segment_semantic"]


def _fake_run(store: ArtifactStore) -> dict:
    """Finalize outputs for three targets, with made-up but well-formed numbers."""
    rng = np.random.default_rng(0)
    rows, summary = [], {}
    for t in TASKS:
        cands: list[dict[str, Any]] = [{"sources": [s], "kind": "first_order"} for s in TASKS if s != t]
        cands += [{"sources": [t], "kind": "own_encoder_small_data"}, {"sources": ["random"], "kind": "random_encoder"},
                  {"sources": ["self"], "kind": "self_full_supervision"}]
        aff = rng.dirichlet(np.ones(len(cands)))
        gain, qual = rng.uniform(0, 1, len(cands)), rng.uniform(0, 1, len(cands))
        qual[-1] = 0.5
        for c, a, g, q in zip(cands, aff, gain, qual, strict=True):
            rows.append(TransferRow(target=t, sources=tuple(c["sources"]), kind=c["kind"], affinity=float(a),
                                    gain=float(g), quality=float(q)))
        task = get_task(t)
        n = 2
        preview: dict[str, np.ndarray] = {"input0": rng.uniform(0, 1, (n, 3, 16, 16)).astype(np.float32)}
        if task.output.kind == "labels":
            preview["target"] = rng.integers(0, task.output.channels, (n, 16, 16))
            preview["prediction"] = rng.dirichlet(np.ones(task.output.channels), (n, 16, 16)).transpose(0, 3, 1, 2)
        else:
            ch = task.output.channels
            preview["target"] = rng.normal(size=(n, ch, 16, 16)).astype(np.float32)
            preview["prediction"] = rng.normal(size=(n, ch, 16, 16)).astype(np.float32)
        store.put_tensors(f"previews/{t}", preview)
        w = rng.uniform(0, 1, (len(cands), len(cands)))
        summary[t] = {"candidates": cands, "self_index": len(cands) - 1, "pixels_index": len(cands),
                      "affinity": aff.tolist(), "gain": gain.tolist(), "quality": qual.tolist(),
                      "win_rates": w.tolist(), "preview": f"previews/{t}"}
    buf = io.BytesIO()
    TransferTable.from_rows(rows).write(buf, format="csv")
    store.put_bytes("results/t.csv", buf.getvalue())
    store.put_json("results/s.json", {"targets": summary})
    return FinalizeParams(
        outputs=FinalizeOutputs(table="results/t.csv", summary="results/s.json", taxonomy="results/x.json"),
        roles={t: "target" for t in TASKS}, budget=2.0, max_order=1, targets=list(TASKS), candidates={}, pixels={},
        plans={}, previews={}, bootstrap=0, seed=0, model=ModelConfig(), transfer_train=TrainSettings())


@pytest.mark.slow
def test_report_writes_every_figure_with_relative_links(tmp_path):
    store = ArtifactStore(tmp_path / "store")
    params = _fake_run(store)
    out = tmp_path / "out"
    path = write_report(out, store=store, finalize_params=params, stats={"executed": 3}, spec={"name": "t"})
    page = open(path, encoding="utf-8").read()
    links = re.findall(r'src="([^"]+)"', page)
    assert links and all(not link.startswith(("/", "file:", "http")) for link in links)
    for link in links:
        with Image.open(out / link) as im:
            assert im.format == "PNG" and im.size[0] > 100
    for name in ("affinity_before.png", "affinity_after.png", "gain_quality.png", "budget_sweep.png"):
        assert name in links
    assert sum(link.startswith("taxonomy_budget_") for link in links) >= 2
    assert {f"predictions_{t}.png" for t in TASKS} <= set(links)
    assert "transfers.csv" in page and "taxonomy.json" in page
    assert "task_similarity_tree.png" in links and "The paper's own claims" in page
    assert "gain percentile" in page  # the significance test's table, budgets 1 to 8


def test_validity_section_shows_the_papers_claims_and_the_tree(tmp_path):
    from taskonomy.affinity import load_table
    from taskonomy.report._figures import dendrogram_figure
    from taskonomy.report._report import _validity_html
    from taskonomy.selection import TaxonomyProblem
    from taskonomy.validity import validate

    report = validate(load_table("paper-1k"), problem=TaxonomyProblem(max_order=1), policies=100)
    assert report.tree is not None
    name = dendrogram_figure(report.tree, title="tree", out_dir=str(tmp_path))
    with Image.open(tmp_path / name) as im:
        assert im.format == "PNG" and im.size[1] > 300  # 25 leaves
    page = "\n".join(_validity_html(report.to_dict(), tree_figure=name))
    assert "The paper's own claims" in page and f'src="{name}"' in page
    assert re.search(r"as a share of the paper's own</b>[^<]*</th><td>1\.00</td>", page)
    assert "egomotion, fixated_pose, nonfixated_pose, point_matching" in page
    assert page.count("<td>100.0</td>") >= 2 * 7  # gain and quality percentiles at budgets 2 to 8
    assert "<td>18</td>" in page  # reproduced targets, an integer


def test_label_rendering():
    normal = get_task("normal")
    t = np.stack([np.full((4, 4), -1.0), np.zeros((4, 4)), np.ones((4, 4))]).astype(np.float32)
    a, b = dense_pair(normal, t, t)
    assert a.shape == (4, 4, 3) and np.allclose(a, b) and a.min() >= 0 and a.max() <= 1
    assert np.allclose(a[0, 0], [0, 0.5, 1])
    seg = get_task("segment_semantic")
    probs = np.zeros((seg.output.channels, 4, 4))
    probs[2] = 1
    a, b = dense_pair(seg, np.full((4, 4), 2), probs)
    assert np.allclose(a, b)
    depth = get_task("depth_zbuffer")
    a, _ = dense_pair(depth, np.linspace(0, 5, 16).reshape(1, 4, 4), np.zeros((1, 4, 4)))
    assert a.shape == (4, 4, 3)
    uncertain = np.full((4, 4), 2)
    uncertain[0, 0] = SEMANTIC_UNCERTAIN
    a, _ = dense_pair(seg, uncertain, probs)
    assert np.allclose(a[0, 0], 0.0) and not np.allclose(a[1, 1], 0.0)  # uncertain pixels are black
    jigsaw = get_task("jigsaw")
    tv, pv = global_pair(jigsaw, np.array(1), np.full(jigsaw.output.channels, 1.0 / jigsaw.output.channels))
    assert tv.argmax() == 1 and tv.sum() == 1 and pv.size == tv.size
    scene = get_task("class_scene")  # a soft label: shown as it is
    soft = np.array([0.1, 0.6, 0.1, 0.1, 0.05, 0.05])
    tv, pv = global_pair(scene, soft, np.full(scene.output.channels, 1.0 / scene.output.channels))
    assert np.allclose(tv, soft) and pv.size == tv.size
    assert image_rgb(np.ones((3, 2, 2)) * 2).max() == 1.0
