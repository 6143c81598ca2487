"""Training: task-specific networks, frozen features, transfers, baselines, per-image evaluation.

Typical flow for one target ``t`` (the pipeline does this with caching)::

    net = train_task_network(s, train_split, model=m, train=tc)            # every source s
    feats = extract_features(encoder_state(net), split, keys=t.inputs, model=m)  # per split
    tr = train_transfer(t, [feats_small], small_split, model=m, train=tc)
    losses = evaluate_transfer(t, tr, [feats_test], test_split, model=m)    # (N_test,)

Baselines: ``own`` = a transfer from ``t``'s own encoder; ``random`` = a transfer from
:func:`random_encoder_state`; ``self`` = :func:`evaluate_network` of ``t``'s task network;
``pixels`` = :func:`train_pixels_baseline` then :func:`evaluate_network`.

Settings: :class:`~taskonomy.contract.config.TrainConfig` (defined with its bounds in
:mod:`taskonomy.contract.config`, re-exported here). Fused training of many readouts is
:mod:`taskonomy.training.fused`; readouts of one architecture stacked into grouped kernels, with
their optimiser state, :mod:`taskonomy.training.stacked`.

Device-agnostic: ``device="auto"`` picks CUDA (bf16 autocast, channels_last) when present,
else the CPU (float32; identical seeds give identical losses). Library functions never change
torch's global thread count or RNG state.
"""

from __future__ import annotations

from taskonomy.contract.config import TrainConfig
from taskonomy.training.artifacts import (
    NETWORK_KINDS,
    TrainedNetwork,
    encoder_state,
    load_network,
    network_from_bytes,
    network_to_bytes,
    save_network,
)
from taskonomy.training.device import resolve_device
from taskonomy.training.features import extract_features, random_encoder_state
from taskonomy.training.fused import FusedTransferTrainer, Readout, readout_step_flops, train_transfers_fused
from taskonomy.training.halving import HalvingResult, halving_plan, successive_halving
from taskonomy.training.losses import per_image_loss
from taskonomy.training.task import evaluate_network, predict, train_pixels_baseline, train_task_network
from taskonomy.training.transfer import evaluate_transfer, predict_transfer, train_transfer

__all__ = [
    "NETWORK_KINDS", "FusedTransferTrainer", "HalvingResult", "Readout", "halving_plan", "readout_step_flops",
    "successive_halving", "train_transfers_fused",
    "TrainConfig", "TrainedNetwork", "encoder_state", "evaluate_network", "evaluate_transfer",
    "extract_features", "load_network", "network_from_bytes", "network_to_bytes", "per_image_loss", "predict",
    "predict_transfer", "random_encoder_state", "resolve_device", "save_network", "train_pixels_baseline",
    "train_task_network", "train_transfer",
]
