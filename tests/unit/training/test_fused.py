"""Fused transfer training equals separate training (same seeds, same batch order)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from taskonomy.affinity import TransferTable
from taskonomy.cli import build_app
from taskonomy.contract import ExperimentSpec, build_graph
from taskonomy.errors import InvalidInputError
from taskonomy.nets import ModelConfig
from taskonomy.store import ArtifactStore
from taskonomy.tasks import get_task
from taskonomy.training import TrainConfig, evaluate_transfer, train_transfer
from taskonomy.training.fused import FusedTransferTrainer, Readout, readout_step_flops, train_transfers_fused
from taskonomy.training.synthetic import synthetic_split
from tests.unit._tiny import tiny_spec_file

MODEL = ModelConfig(width=4, rep_channels=4, blocks=0, transfer_width=8, hidden=16)
SIZE = 16
# A dense regression, a dense classification, a metric embedding (stochastic loss), a global class target.
TARGETS = ("normal", "segment_semantic", "segment_unsup2d", "class_object")


def _features(n: int, seed: int, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal((n, MODEL.rep_channels, SIZE // 8, SIZE // 8)).astype(np.float32) for k in keys}


@pytest.fixture(scope="module")
def setup() -> tuple[list[Readout], list[Readout], TrainConfig]:
    tasks = [get_task(t) for t in TARGETS]
    keys = tuple(dict.fromkeys(k for t in tasks for k in t.inputs))
    src_train, src_test = _features(32, 1, keys), _features(16, 2, keys)
    other_train, other_test = _features(32, 3, keys), _features(16, 4, keys)
    train_data, test_data = synthetic_split(tasks, 32, SIZE, 5), synthetic_split(tasks, 16, SIZE, 6)
    train = [Readout(t, [src_train], train_data) for t in tasks] + [Readout(tasks[0], [other_train], train_data)]
    test = [Readout(t, [src_test], test_data) for t in tasks] + [Readout(tasks[0], [other_test], test_data)]
    cfg = TrainConfig(epochs=3, batch_size=16, lr=3e-3, weight_decay=0.01, device="cpu", seed=7, embed_pixels=32)
    return train, test, cfg


@pytest.mark.parametrize("workers", [1, 2])
def test_fused_equals_separate(setup: tuple[list[Readout], list[Readout], TrainConfig], workers: int) -> None:
    train, test, cfg = setup
    fused = train_transfers_fused(train, model=MODEL, train=cfg, workers=workers)
    for r, rt, f in zip(train, test, fused, strict=True):
        sep = train_transfer(r.target, r.features, r.data, model=MODEL, train=cfg)
        assert f.metrics["steps"] == sep.metrics["steps"] == 6
        assert f.state.keys() == sep.state.keys()
        for k in sep.state:
            torch.testing.assert_close(f.state[k], sep.state[k], rtol=1e-4, atol=1e-5)
        assert f.metrics["train_loss"] == pytest.approx(sep.metrics["train_loss"], rel=1e-4)
        lf = evaluate_transfer(r.target, f, rt.features, rt.data, model=MODEL, device="cpu")
        ls = evaluate_transfer(r.target, sep, rt.features, rt.data, model=MODEL, device="cpu")
        np.testing.assert_allclose(lf, ls, rtol=1e-4, atol=1e-6)


def test_masked_readouts_stay_put_and_survivors_follow_full_training(
        setup: tuple[list[Readout], list[Readout], TrainConfig]) -> None:
    train, test, cfg = setup
    full = train_transfers_fused(train, model=MODEL, train=cfg)
    tr = FusedTransferTrainer(train, model=MODEL, train=cfg)
    tr.advance(3)
    early = tr.results()
    tr.advance(100, active=[0, 4])
    late = tr.results()
    assert [n.metrics["steps"] for n in late] == [6, 3, 3, 3, 6]
    for i in (1, 2, 3):  # stopped after 3 steps: untouched since
        for k in early[i].state:
            assert torch.equal(early[i].state[k], late[i].state[k])
    for i in (0, 4):  # survivors equal full training
        for k in full[i].state:
            torch.testing.assert_close(late[i].state[k], full[i].state[k], rtol=1e-4, atol=1e-5)
    losses = tr.evaluate(0, test[0].features, test[0].data)
    assert losses.shape == (16,) and np.isfinite(losses).all()


def test_refuses_mixed_split_sizes(setup: tuple[list[Readout], list[Readout], TrainConfig]) -> None:
    train, test, cfg = setup
    with pytest.raises(InvalidInputError, match="one transfer split size"):
        FusedTransferTrainer([train[0], test[0]], model=MODEL, train=cfg)
    with pytest.raises(InvalidInputError, match="at least one readout"):
        FusedTransferTrainer([], model=MODEL, train=cfg)
    with pytest.raises(InvalidInputError, match="workers"):
        FusedTransferTrainer(train, model=MODEL, train=cfg, workers=0)


def test_step_flops_scale_with_batch() -> None:
    t = get_task("normal")
    f1 = readout_step_flops(t, model=MODEL, size=SIZE, batch_size=8)
    f2 = readout_step_flops(t, model=MODEL, size=SIZE, batch_size=16)
    assert f1 > 0 and f2 == 2 * f1


@pytest.mark.slow
def test_run_mode_fused_equals_per_job_and_halving_has_its_own_keys(tmp_path: Path) -> None:
    """``taskonomy run --mode fused`` (the spec's ``transfer_jobs: all``) writes the same table as one
    transfer per job; ``--mode halving`` (``affinity.estimate: halving``) writes its losses under keys
    of its own, in the same store, so they never stand in for fully trained ones."""
    cfg = tiny_spec_file(tmp_path, ["normal", "depth_zbuffer", "reshading"], transfer_images=32, transfer_epochs=2,
                         budget=2)
    app = build_app()
    tables = {}
    for mode in ("per-job", "fused", "halving"):
        out = tmp_path / mode
        res = CliRunner().invoke(app, ["run", "--config", str(cfg), "--out", str(out), "--mode", mode, "--quiet",
                                       "--no-report", "--threads", "1"])
        assert res.exit_code == 0, res.output
        tables[mode] = TransferTable.read(out / "transfers.csv")
    assert tables["fused"] == tables["per-job"]
    assert sorted(tables["halving"].targets()) == sorted(tables["per-job"].targets())
    halving = ExperimentSpec.from_file(cfg).model_dump(mode="json")
    trained = {j.outputs[0] for j in build_graph(ExperimentSpec.parse(halving)).jobs.values() if j.kind == "transfer"}
    halved = build_graph(ExperimentSpec.parse({**halving, "affinity": {"estimate": "halving"}}))
    [job] = [j for j in halved.jobs.values() if j.kind == "transfer_halving"]
    assert trained and not trained & set(job.outputs) and len(job.outputs) == len(trained)
    assert ArtifactStore(str(tmp_path / "halving" / "artifacts")).exists(job.outputs[0])
    bad = CliRunner().invoke(app, ["run", "--config", str(cfg), "--out", str(tmp_path / "x"), "--mode", "bogus"])
    assert bad.exit_code == 2 and "--mode" in bad.output
