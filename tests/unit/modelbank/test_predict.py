"""Predictions for one image: every task-specific network, rendered like the world preview."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from taskonomy.data._shards import decode as shard_decode
from taskonomy.data._shards import encode as shard_encode
from taskonomy.modelbank import list_models, open_experiment
from taskonomy.modelbank.predict import (
    derive_inputs,
    image_sample,
    predict_sample,
    render,
    target_form,
    world_sample,
    write_pngs,
)
from taskonomy.tasks import SEMANTIC_UNCERTAIN, get_task
from tests.unit.modelbank._experiment import MULTI_VIEW, SINGLE_VIEW

pytestmark = pytest.mark.slow


def _png_size(data: bytes) -> tuple[int, int]:
    im = Image.open(io.BytesIO(data))
    assert im.format == "PNG"
    return im.size


def test_world_sample_predictions_reproduce_the_pipelines_test_losses(tiny_run: Path) -> None:
    """The prediction path sees exactly the test image the pipeline evaluated: its per-image loss
    against the ground truth is the stored ``self`` loss of that image."""
    exp = open_experiment(str(tiny_run))
    cards = {c["task"]: c for c in list_models(exp) if c["role"] == "task_specific"}
    checked = 0
    for index in range(exp.spec.splits.test):
        # as the pipeline's shards hold it (images in 8 bits): the same input and target, to the bit
        stored_arrays, encodings = shard_encode(world_sample(exp, index))
        sample = {k: shard_decode(k, a, encodings[k]) for k, a in stored_arrays.items()}
        for p in predict_sample(exp, sample).predictions:
            task = get_task(p.task)
            assert p.value.shape == sample[task.target].shape and p.value.dtype == sample[task.target].dtype
            if task.output.kind == "pixels":  # L1 per image, in target units
                stored = exp.store.get_tensors(cards[p.task]["test"]["losses"])["x"][index]
                ours = float(np.abs(p.value - sample[task.target]).mean())
                assert ours == pytest.approx(stored, rel=1e-3, abs=1e-5)
                checked += 1
    assert checked == exp.spec.splits.test


def test_well_learned_tasks_are_close_to_ground_truth(tiny_run: Path) -> None:
    """Both tasks of the tiny experiment are learned: autoencoding's output is much closer to its
    own image than to the other test images and beats each image's mean colour; semantic
    segmentation (background and object categories) recalls the classes of an image better than
    its majority class would."""
    exp = open_experiment(str(tiny_run))
    n = exp.spec.splits.test
    samples = [world_sample(exp, i) for i in range(n)]
    preds = [{p.task: p.value for p in predict_sample(exp, s).predictions} for s in samples]
    err = np.array([[np.abs(preds[i]["autoencoding"] - samples[j]["rgb"]).mean() for j in range(n)]
                    for i in range(n)])
    own = float(np.diag(err).mean())
    others = float(err[~np.eye(n, dtype=bool)].mean())
    flat = float(np.mean([np.abs(s["rgb"] - s["rgb"].mean(axis=(1, 2), keepdims=True)).mean() for s in samples]))
    assert own < 0.7 * others and own < 0.9 * flat
    # the loss is rebalanced by class frequency, so the score is too: the mean recall of the classes in
    # an image (its majority class alone scores 1 / their number)
    recall, majority = [], []
    for p, s in zip(preds, samples, strict=True):
        y, guess = s["segment_semantic"], p["segment_semantic"]
        present = [c for c in np.unique(y) if c != SEMANTIC_UNCERTAIN]
        recall.append(np.mean([(guess[y == c] == c).mean() for c in present]))
        majority.append(1.0 / len(present))
    assert np.mean(recall) > np.mean(majority) + 0.05


def test_uploaded_image_gives_one_png_per_task(tiny_run: Path, tmp_path: Path) -> None:
    exp = open_experiment(str(tiny_run))
    rng = np.random.default_rng(0)
    image = rng.random((3, 37, 53)).astype(np.float32)  # odd, non-square size
    sample = image_sample(exp, image)
    assert sample["rgb"].shape == (3, 32, 32) and "view1" not in sample
    pset = render(predict_sample(exp, sample))
    assert sorted(p.task for p in pset.predictions) == sorted(SINGLE_VIEW)
    assert list(pset.skipped) == MULTI_VIEW  # two views of one scene; an upload has one
    assert pset.skipped["nonfixated_pose"].startswith("needs 2 views")
    for p in pset.predictions:
        w, h = _png_size(p.png)
        assert w > 100 and h > 100
    written = write_pngs(pset, tmp_path)
    names = sorted(Path(w).name for w in written)
    assert names == sorted(["input.png", "predictions.json", *(f"{t}.png" for t in SINGLE_VIEW)])


def test_transfers_the_taxonomy_chose_and_ground_truth_pictures(tiny_run: Path) -> None:
    import json

    exp = open_experiment(str(tiny_run))
    tax = json.loads((tiny_run / "taxonomy.json").read_text())
    pset = render(predict_sample(exp, world_sample(exp, 1), transfers=True), ground_truth=True)
    transfers = [p for p in pset.predictions if p.role == "transfer"]
    # one supervised root (the random encoder is a free root besides it) and one transfer edge from the roots
    assert len(tax["supervised"]) == 1 and len(transfers) == len(tax["edges"]) == 1
    assert transfers[0].sources == tuple(tax["edges"][0]["sources"]) and set(transfers[0].sources) <= set(tax["roots"])
    for p in transfers:
        assert p.name == f"{p.task}.from-{'+'.join(p.sources)}" and p.png[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(pset.ground_truth) == sorted(exp.spec.task_names())  # a world sample has every view
    assert pset.skipped == {}


def test_multiview_tasks_are_skipped_for_a_single_image() -> None:
    pose = get_task("nonfixated_pose")
    inputs = derive_inputs(np.zeros((3, 16, 16), dtype=np.float32))
    assert set(inputs) == {"rgb", "gray", "rgb_noisy", "rgb_masked", "jigsaw_image"}
    assert not set(pose.inputs) <= set(inputs)
    assert all(v.shape == (3, 16, 16) and v.dtype == np.float32 for v in inputs.values())


def test_target_form_matches_the_ground_truth_contract() -> None:
    rng = np.random.default_rng(0)
    seg = target_form(get_task("segment_semantic"), rng.random((11, 8, 8)))
    assert seg.shape == (8, 8) and seg.dtype == np.int64 and seg.max() < 11
    emb = target_form(get_task("segment_unsup2d"), rng.normal(size=(8, 8, 8)))
    assert emb.shape == (8, 8) and emb.dtype == np.int64 and len(np.unique(emb)) > 1
    soft = np.array([0.1, 0.7, 0.1, 0.05, 0.03, 0.02])  # predict's probabilities: the soft label as it is
    scene = target_form(get_task("class_scene"), soft)
    assert scene.shape == (6,) and scene.dtype == np.float32 and np.allclose(scene, soft)
    jigsaw = target_form(get_task("jigsaw"), np.array([0.1, 0.7, 0.2]))
    assert jigsaw.shape == () and int(jigsaw) == 1


def test_stored_requests_are_answered_once_and_bad_ones_fail_with_the_reason(tiny_run: Path) -> None:
    from taskonomy.modelbank import encode_png
    from taskonomy.modelbank.predict import request_key, run_prediction_request

    exp = open_experiment(str(tiny_run))
    base = {"experiment": exp.id, "spec": exp.spec_dict(), "store": exp.store.url, "transfers": False}
    exp.store.put_bytes(request_key("t-upload", "upload"), encode_png(np.full((3, 20, 30), 0.5, np.float32)))
    exp.store.put_json(request_key("t-upload"), {**base, "upload": request_key("t-upload", "upload")})
    done = run_prediction_request(exp.store, "t-upload")
    assert done["state"] == "SUCCEEDED" and len(done["predictions"]) == len(SINGLE_VIEW)
    for p in done["predictions"]:
        assert exp.store.get_bytes(request_key("t-upload", p["image"]))[:4] == b"\x89PNG"
    assert run_prediction_request(exp.store, "t-upload") == done  # at-least-once delivery is harmless

    exp.store.put_json(request_key("t-bad"), {**base, "world_sample": exp.spec.splits.test})
    failed = run_prediction_request(exp.store, "t-bad")
    assert failed["state"] == "FAILED" and "world sample index" in failed["error"]
