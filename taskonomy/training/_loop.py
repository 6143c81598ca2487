"""The one optimisation loop and the one batched evaluation loop.

Data lives in memory as tensors indexed by a shuffled permutation per epoch (no DataLoader):
for the small splits of this project the per-step overhead of workers and collation would
dominate. Shuffling and pixel sampling use a local ``torch.Generator`` seeded from
``TrainConfig.seed``, so the same seeds give bit-identical results on the CPU.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from taskonomy.contract.config import TrainConfig
from taskonomy.nets import NORMALISED_KINDS, TargetNorm
from taskonomy.tasks import TaskSpec
from taskonomy.training.device import autocast, memory_format
from taskonomy.training.losses import REGRESSION_LOSSES, metric_embedding_per_image, per_image_loss

Progress = Callable[[int, int], None]


def _batch(inputs: Sequence[torch.Tensor], idx: torch.Tensor, device: torch.device) -> list[torch.Tensor]:
    fmt = memory_format(device)
    return [x.index_select(0, idx).contiguous(memory_format=fmt) if x.dim() == 4 else x.index_select(0, idx)
            for x in inputs]


def total_steps(n: int, train: TrainConfig) -> int:
    """Optimiser steps of a run over ``n`` items (every epoch ends with a possibly smaller batch)."""
    steps = train.epochs * math.ceil(n / train.batch_size)
    return min(steps, train.max_steps) if train.max_steps else steps


def fit(
    net: nn.Module,
    inputs: Sequence[torch.Tensor],
    target: torch.Tensor,
    *,
    task: TaskSpec,
    train: TrainConfig,
    device: torch.device,
    params: Iterable[nn.Parameter],
    progress: Progress | None = None,
) -> dict[str, float]:
    """Train ``net(inputs[idx]) ≈ target[idx]`` with AdamW and a cosine schedule; returns metrics.

    ``target`` is already in the network's training space (standardised for regression).
    """
    n = int(target.shape[0])
    steps = total_steps(n, train)
    gen = torch.Generator().manual_seed(train.seed + 1)
    opt = torch.optim.AdamW(list(params), lr=train.lr, weight_decay=train.weight_decay)
    floor = 0.05
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / max(steps, 1))))

    def loss_of(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if task.loss == "metric_embedding":
            return metric_embedding_per_image(pred, y, max_pixels=train.embed_pixels, generator=gen)
        return per_image_loss(task.loss, pred, y)

    net.train()
    start = time.perf_counter()
    step = 0
    last_sum = torch.zeros((), device=device)
    last_count = 0
    epoch = 0
    while step < steps:
        # On the device once per epoch: a copy from host memory per step would wait for the device.
        perm = torch.randperm(n, generator=gen).to(device)
        last_sum = torch.zeros((), device=device)
        last_count = 0
        for lo in range(0, n, train.batch_size):
            if step >= steps:
                break
            idx = perm[lo : lo + train.batch_size]
            xs = _batch(inputs, idx, device)
            y = target.index_select(0, idx)
            with autocast(device, train.precision):
                pred = net(xs)
            loss = loss_of(pred.float(), y).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            last_sum = last_sum + loss.detach() * idx.numel()
            last_count += idx.numel()
            if progress is not None:
                progress(step, steps)
        epoch += 1
    final = float(last_sum.item()) / max(last_count, 1)
    net.eval()
    return {"train_loss": final, "steps": float(step), "epochs": float(epoch), "n_train": float(n),
            "seconds": time.perf_counter() - start}


def _normaliser(net: nn.Module) -> TargetNorm:
    norm = getattr(net, "target", None)
    assert isinstance(norm, TargetNorm)
    return norm


@torch.no_grad()
def predict_raw(net: nn.Module, inputs: Sequence[torch.Tensor], *, task: TaskSpec, device: torch.device,
                batch_size: int) -> torch.Tensor:
    """Predictions in target units (regression), probabilities (classes) or embeddings; float32 on CPU."""
    net.eval()
    n = int(inputs[0].shape[0])
    outs = []
    for lo in range(0, n, batch_size):
        idx = torch.arange(lo, min(lo + batch_size, n), device=device)
        with autocast(device):
            pred = net(_batch(inputs, idx, device))
        pred = pred.float()
        kind = task.output.kind
        if kind in NORMALISED_KINDS:
            pred = _normaliser(net).denormalize(pred)
        elif kind in ("labels", "class", "distribution"):
            pred = pred.softmax(dim=1)
        elif kind == "binary":
            pred = pred.sigmoid()
        outs.append(pred.to("cpu").contiguous())
    return torch.cat(outs)


@torch.no_grad()
def test_losses(net: nn.Module, inputs: Sequence[torch.Tensor], target: torch.Tensor, *, task: TaskSpec,
                device: torch.device, batch_size: int) -> np.ndarray:
    """Per-image test losses (N,) float64; regression losses in target units (comparable across candidates)."""
    net.eval()
    n = int(target.shape[0])
    outs = []
    for lo in range(0, n, batch_size):
        idx = torch.arange(lo, min(lo + batch_size, n), device=device)
        with autocast(device):
            pred = net(_batch(inputs, idx, device))
        pred = pred.float()
        if task.test_loss in REGRESSION_LOSSES and task.output.kind in NORMALISED_KINDS:
            pred = _normaliser(net).denormalize(pred)
        outs.append(per_image_loss(task.test_loss, pred, target.index_select(0, idx)).to("cpu", torch.float64))
    return torch.cat(outs).numpy()
