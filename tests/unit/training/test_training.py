from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from taskonomy.errors import CorruptArtifactError, InvalidInputError, PreconditionError
from taskonomy.nets import ModelConfig
from taskonomy.tasks import BUILTIN_TASKS, TaskSpec, get_task
from taskonomy.training import (
    TrainConfig,
    TrainedNetwork,
    encoder_state,
    evaluate_network,
    evaluate_transfer,
    extract_features,
    load_network,
    network_from_bytes,
    network_to_bytes,
    predict,
    predict_transfer,
    random_encoder_state,
    save_network,
    train_pixels_baseline,
    train_task_network,
    train_transfer,
)
from tests.unit.training.fakes import make_fake_split

TRAINABLE = [t for t in BUILTIN_TASKS if t.trainable]
SMALL = ModelConfig(width=8, rep_channels=4, blocks=1, hidden=16, transfer_width=8)
FAST = TrainConfig(epochs=1, batch_size=4, device="cpu")
SIZE = 16


@pytest.fixture(scope="module")
def split() -> dict[str, np.ndarray]:
    return make_fake_split(TRAINABLE, 8, SIZE, seed=0)


def _pred_shape(task: TaskSpec, n: int) -> tuple[int, ...]:
    return (n, task.output.channels, SIZE, SIZE) if task.output.dense else (n, task.output.channels)


@pytest.mark.parametrize("task", TRAINABLE, ids=lambda t: t.name)
def test_train_evaluate_transfer_every_task(task: TaskSpec, split: dict[str, np.ndarray]) -> None:
    net = train_task_network(task, split, model=SMALL, train=FAST)
    assert net.kind == "task" and net.size == SIZE and net.task == task.name
    assert {k.split(".")[0] for k in net.state} == {"encoder", "decoder", "target"}
    losses = evaluate_network(task, net, split, model=SMALL, device="cpu")
    assert losses.shape == (8,) and losses.dtype == np.float64 and np.isfinite(losses).all()
    assert predict(task, net, split, model=SMALL, device="cpu").shape == _pred_shape(task, 8)
    # The source encoder runs on the target's own input keys (views, rgb_noisy, jigsaw tiles...).
    feats = extract_features(encoder_state(net), split, keys=task.inputs, model=SMALL, device="cpu")
    assert set(feats) == set(task.inputs)
    for a in feats.values():
        assert a.shape == (8, SMALL.rep_channels, SIZE // 8, SIZE // 8) and a.dtype == np.float32
    tr = train_transfer(task, [feats], split, model=SMALL, train=FAST)
    t_losses = evaluate_transfer(task, tr, [feats], split, model=SMALL, device="cpu")
    assert t_losses.shape == (8,) and np.isfinite(t_losses).all()


@pytest.mark.parametrize("name", ["depth_zbuffer", "class_scene", "segment_unsup2d", "nonfixated_pose"])
def test_training_reduces_the_loss_on_a_tiny_overfit(name: str, split: dict[str, np.ndarray]) -> None:
    task = get_task(name)
    model = ModelConfig(width=8, rep_channels=4, blocks=1, hidden=32, transfer_width=8)
    barely = train_task_network(task, split, model=model, train=TrainConfig(epochs=1, batch_size=8, max_steps=1))
    long = train_task_network(task, split, model=model, train=TrainConfig(epochs=60, batch_size=8, lr=3e-3))
    before = evaluate_network(task, barely, split, model=model).mean()
    after = evaluate_network(task, long, split, model=model).mean()
    if task.output.kind == "distribution":  # a soft cross-entropy cannot go below the target's entropy
        p = split[task.target].astype(np.float64)
        floor = float(-(p * np.log(np.maximum(p, 1e-12))).sum(axis=1).mean())
        before, after = before - floor, after - floor
    assert after < 0.7 * before


def test_same_seeds_give_identical_per_image_losses(split: dict[str, np.ndarray]) -> None:
    task = get_task("segment_unsup25d")
    cfg = TrainConfig(epochs=2, batch_size=4, seed=7, device="cpu")
    a = train_task_network(task, split, model=SMALL, train=cfg)
    b = train_task_network(task, split, model=SMALL, train=cfg)
    c = train_task_network(task, split, model=SMALL, train=TrainConfig(epochs=2, batch_size=4, seed=8, device="cpu"))
    la, lb, lc = (evaluate_network(task, n, split, model=SMALL) for n in (a, b, c))
    np.testing.assert_array_equal(la, lb)
    assert not np.array_equal(la, lc)
    target = get_task("egomotion")
    feats = extract_features(encoder_state(a), split, keys=target.inputs, model=SMALL)
    t1 = train_transfer(target, [feats, feats], split, model=SMALL, train=cfg)
    t2 = train_transfer(target, [feats, feats], split, model=SMALL, train=cfg)
    np.testing.assert_array_equal(evaluate_transfer(target, t1, [feats, feats], split, model=SMALL),
                                  evaluate_transfer(target, t2, [feats, feats], split, model=SMALL))


def test_multi_source_transfer_and_baselines(split: dict[str, np.ndarray]) -> None:
    target = get_task("normal")
    own = train_task_network(target, split, model=SMALL, train=FAST)
    depth = train_task_network(get_task("depth_zbuffer"), split, model=SMALL, train=FAST)
    f_own = extract_features(encoder_state(own), split, keys=target.inputs, model=SMALL)
    f_depth = extract_features(encoder_state(depth), split, keys=target.inputs, model=SMALL)
    f_rand = extract_features(random_encoder_state(SMALL, seed=0), split, keys=target.inputs, model=SMALL)
    tr = train_transfer(target, [f_own, f_depth, f_rand], split, model=SMALL, train=FAST)
    assert tr.kind == "transfer" and tr.n_sources == 3
    assert tr.state["transfer.conv1.0.weight"].shape[1] == 3 * SMALL.rep_channels
    assert evaluate_transfer(target, tr, [f_own, f_depth, f_rand], split, model=SMALL).shape == (8,)
    assert predict_transfer(target, tr, [f_own, f_depth, f_rand], model=SMALL).shape == (8, 3, SIZE, SIZE)
    with pytest.raises(InvalidInputError, match="3 source"):
        evaluate_transfer(target, tr, [f_own], split, model=SMALL)
    pix = train_pixels_baseline(target, split, model=SMALL, train=FAST)
    assert pix.kind == "pixels" and evaluate_network(target, pix, split, model=SMALL).shape == (8,)
    with pytest.raises(PreconditionError, match="transfer"):
        evaluate_network(target, tr, split, model=SMALL)
    with pytest.raises(PreconditionError, match="no encoder"):
        encoder_state(tr)


def test_random_encoder_is_seeded(split: dict[str, np.ndarray]) -> None:
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    a = random_encoder_state(SMALL, seed=3)
    assert torch.equal(torch.rand(1), before)  # the caller's generator is untouched
    b = random_encoder_state(SMALL, seed=3)
    c = random_encoder_state(SMALL, seed=4)
    assert all(torch.equal(a[k], b[k]) for k in a) and not all(torch.equal(a[k], c[k]) for k in a)
    fa = extract_features(a, split, keys=["rgb", "view1"], model=SMALL)
    assert fa["rgb"].shape == (8, 4, 2, 2) and not np.array_equal(fa["rgb"], fa["view1"])


def test_test_losses_are_in_target_units(split: dict[str, np.ndarray]) -> None:
    """Targets scaled by 10 → identical training in standardised space → test L1 scaled by 10."""
    task = get_task("depth_euclidean")
    scaled = dict(split)
    scaled["depth_euclidean"] = split["depth_euclidean"] * 10.0
    a = train_task_network(task, split, model=SMALL, train=FAST)
    b = train_task_network(task, scaled, model=SMALL, train=FAST)
    np.testing.assert_allclose(evaluate_network(task, b, scaled, model=SMALL),
                               10 * evaluate_network(task, a, split, model=SMALL), rtol=1e-3)
    pa = predict(task, a, split, model=SMALL)
    assert abs(pa.mean() - split["depth_euclidean"].mean()) < 2 * split["depth_euclidean"].std()


def test_save_load_roundtrip_gives_identical_outputs(tmp_path: Path, split: dict[str, np.ndarray]) -> None:
    task = get_task("vanishing_point")
    net = train_task_network(task, split, model=SMALL, train=FAST)
    path = tmp_path / "net.safetensors"
    save_network(net, path)
    back = load_network(path)
    assert (back.task, back.kind, back.size, back.model, back.metrics) == (
        net.task, net.kind, net.size, net.model, net.metrics)
    np.testing.assert_array_equal(evaluate_network(task, back, split, model=SMALL),
                                  evaluate_network(task, net, split, model=SMALL))
    feats = extract_features(encoder_state(back), split, keys=["rgb"], model=SMALL)
    tr = train_transfer(task, [feats], split, model=SMALL, train=FAST)
    tr_back = network_from_bytes(network_to_bytes(tr))
    assert tr_back.n_sources == 1
    np.testing.assert_array_equal(predict_transfer(task, tr_back, [feats], model=SMALL),
                                  predict_transfer(task, tr, [feats], model=SMALL))
    # Never pickle: the file is plain safetensors with JSON metadata.
    assert b"taskonomy.network/1" in path.read_bytes()[:4096]


def test_corrupt_network_files_are_detected(tmp_path: Path) -> None:
    with pytest.raises(CorruptArtifactError):
        network_from_bytes(b"\x00\x01")
    with pytest.raises(CorruptArtifactError):
        network_from_bytes(b"not a safetensors file at all, just text")
    from safetensors.torch import save

    with pytest.raises(CorruptArtifactError, match="metadata"):
        network_from_bytes(save({"x": torch.zeros(2)}))
    good = network_to_bytes(TrainedNetwork(task="normal", state={"x": torch.zeros(2)}))
    with pytest.raises(CorruptArtifactError):
        network_from_bytes(good[: len(good) - 3])
    with pytest.raises(FileNotFoundError):
        load_network(tmp_path / "missing.safetensors")


def test_caller_mistakes_get_clear_errors(split: dict[str, np.ndarray]) -> None:
    task = get_task("normal")
    with pytest.raises(InvalidInputError, match="no key 'nope'"):
        extract_features(random_encoder_state(SMALL, seed=0), split, keys=["nope"], model=SMALL)
    bad = dict(split)
    bad["normal"] = split["normal"][:, :2]
    with pytest.raises(InvalidInputError, match="must have shape"):
        train_task_network(task, bad, model=SMALL, train=FAST)
    nan = dict(split)
    nan["normal"] = split["normal"].copy()
    nan["normal"][0, 0, 0, 0] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        train_task_network(task, nan, model=SMALL, train=FAST)
    with pytest.raises(InvalidInputError, match="no target"):
        train_task_network(get_task("random"), split, model=SMALL, train=FAST)
    net = train_task_network(task, split, model=SMALL, train=FAST)
    with pytest.raises(InvalidInputError, match="trained for task"):
        evaluate_network(get_task("reshading"), net, split, model=SMALL)
    with pytest.raises(InvalidInputError, match="model config"):
        evaluate_network(task, net, split, model=ModelConfig())
    with pytest.raises(InvalidInputError, match="model config"):
        extract_features(encoder_state(net), split, keys=["rgb"], model=ModelConfig())
    with pytest.raises(InvalidInputError, match="device"):
        TrainConfig(device="tpu")
    with pytest.raises(InvalidInputError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(InvalidInputError, match="train config: epoch: unknown key"):
        TrainConfig.from_dict({"epoch": 3})
    assert TrainConfig.from_dict(FAST.to_dict()) == FAST
    if not torch.cuda.is_available():
        with pytest.raises(PreconditionError, match="CUDA"):
            train_task_network(task, split, model=SMALL, train=TrainConfig(device="cuda"))


def test_progress_reports_every_step(split: dict[str, np.ndarray]) -> None:
    seen: list[tuple[int, int]] = []
    net = train_task_network(get_task("class_object"), split, model=SMALL,
                             train=TrainConfig(epochs=3, batch_size=3, device="cpu"),
                             progress=lambda s, t: seen.append((s, t)))
    assert seen == [(i, 9) for i in range(1, 10)]  # 3 epochs x ceil(8 / 3) batches
    assert net.metrics["steps"] == 9 and net.metrics["n_train"] == 8



def test_batchnorm_model_trains_with_a_one_item_last_batch() -> None:
    task = get_task("room_layout")
    data = make_fake_split([task], 5, 16, seed=1)  # batches of 4 + 1: BatchNorm still has a 2x2 map per channel
    cfg = ModelConfig(width=8, rep_channels=4, blocks=1, hidden=16, norm="batch")
    net = train_task_network(task, data, model=cfg, train=TrainConfig(epochs=2, batch_size=4))
    assert net.metrics["steps"] == 4
    assert np.isfinite(evaluate_network(task, net, data, model=cfg)).all()
