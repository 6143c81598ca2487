"""Training precision (``TrainConfig.precision``) and the channels_last memory format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from taskonomy.affinity import TransferTable
from taskonomy.cli import build_app
from taskonomy.errors import InvalidInputError
from taskonomy.nets import ModelConfig
from taskonomy.tasks import get_task
from taskonomy.training import TrainConfig, evaluate_transfer, train_transfer
from taskonomy.training.device import autocast, place
from taskonomy.training.fused import Readout, train_transfers_fused
from taskonomy.training.synthetic import synthetic_split
from tests.unit._tiny import tiny_spec_file

MODEL = ModelConfig(width=4, rep_channels=4, blocks=0, transfer_width=8, hidden=16)
SIZE = 16


def _features(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"rgb": rng.standard_normal((n, MODEL.rep_channels, SIZE // 8, SIZE // 8)).astype(np.float32)}


def test_precision_is_validated() -> None:
    assert TrainConfig().precision == "auto"
    with pytest.raises(InvalidInputError, match="train config: precision: Input should be 'auto', 'fp32' or 'bf16'"):
        TrainConfig(precision="fp16")
    with pytest.raises(InvalidInputError, match="precision"):
        autocast(torch.device("cpu"), "half")
    assert TrainConfig.from_dict({"precision": "bf16"}).precision == "bf16"


def test_spec_and_cli_accept_exactly_the_training_precisions() -> None:
    from typing import get_args

    from taskonomy.contract import TrainSpec
    from taskonomy.contract.config import PRECISIONS

    assert get_args(TrainSpec.model_fields["precision"].annotation) == PRECISIONS


def test_autocast_policy() -> None:
    cpu = torch.device("cpu")
    x = torch.randn(4, 4)
    for precision, dtype in (("auto", torch.float32), ("fp32", torch.float32), ("bf16", torch.bfloat16)):
        with autocast(cpu, precision):
            assert (x @ x).dtype == dtype, precision


def test_networks_train_in_channels_last() -> None:
    net = place(torch.nn.Conv2d(3, 8, 3), torch.device("cpu"))
    assert net.weight.is_contiguous(memory_format=torch.channels_last)


def test_bf16_training_is_deterministic_differs_from_fp32_and_fused_agrees() -> None:
    t = get_task("normal")
    train_data, test_data = synthetic_split([t], 32, SIZE, 1), synthetic_split([t], 16, SIZE, 2)
    src, src_test = _features(32, 3), _features(16, 4)
    fp32 = TrainConfig(epochs=3, batch_size=16, lr=3e-3, device="cpu", seed=5)
    bf16 = fp32.replace(precision="bf16")

    def losses(cfg: TrainConfig) -> np.ndarray:
        net = train_transfer(t, [src], train_data, model=MODEL, train=cfg)
        return evaluate_transfer(t, net, [src_test], test_data, model=MODEL, device="cpu")

    a, b, ref = losses(bf16), losses(bf16), losses(fp32)
    np.testing.assert_array_equal(a, b)  # deterministic on the CPU
    assert not np.array_equal(a, ref)  # bf16 arithmetic really ran
    np.testing.assert_allclose(a.mean(), ref.mean(), rtol=0.05)  # and learned the same thing
    fused = train_transfers_fused([Readout(t, [src], train_data), Readout(t, [_features(32, 6)], train_data)],
                                  model=MODEL, train=bf16)
    lf = evaluate_transfer(t, fused[0], [src_test], test_data, model=MODEL, device="cpu")
    np.testing.assert_allclose(lf.mean(), a.mean(), rtol=0.02)


@pytest.mark.slow
def test_run_precision_bf16_end_to_end(tmp_path: Path) -> None:
    """``taskonomy run --precision bf16`` trains every network in bf16; a bad value is one line, exit 2."""
    cfg = tiny_spec_file(tmp_path, ["normal", "depth_zbuffer"])
    runner = CliRunner()
    bad = runner.invoke(build_app(), ["run", "--config", str(cfg), "--out", str(tmp_path / "x"), "--precision", "fp8"])
    assert bad.exit_code == 2 and "--precision" in bad.output and "auto, fp32, bf16" in bad.output
    out = tmp_path / "out"
    res = runner.invoke(build_app(), ["run", "--config", str(cfg), "--out", str(out), "--precision", "bf16",
                                      "--quiet", "--no-report"])
    assert res.exit_code == 0, res.output
    assert sorted(TransferTable.read(out / "transfers.csv").targets()) == ["depth_zbuffer", "normal"]
    cards = list((out / "artifacts").rglob("*.card.json"))  # every trained network's card says how it trained
    assert len(cards) >= 8
    assert all(json.loads(c.read_text())["training"]["precision"] == "bf16" for c in cards)
