"""Transfers (stage 2): a small function over frozen, cached source representations.

The source encoder ran on the *target's* input keys (each view of a multi-view target, or
e.g. ``rgb_noisy`` for denoising), so ``features[s][key]`` is the representation of source
``s`` for target input ``key``. The sources' representations are concatenated channel-wise,
standardised per channel with statistics of the training features (stored in the state),
passed through two conv layers and a freshly initialised target decoder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from taskonomy.contract.config import TrainConfig
from taskonomy.errors import InvalidInputError
from taskonomy.nets import ModelConfig, TransferNetwork, build_transfer, seeded
from taskonomy.nets.decoders import check_decodable
from taskonomy.tasks import TaskSpec
from taskonomy.training._loop import Progress, fit, predict_raw, test_losses
from taskonomy.training.arrays import fit_target_norm, target_tensor, to_tensor
from taskonomy.training.artifacts import TrainedNetwork
from taskonomy.training.device import place, resolve_device
from taskonomy.training.task import EVAL_BATCH, cpu_state


def feature_tensors(target: TaskSpec, features: Sequence[Mapping[str, np.ndarray]], *, model: ModelConfig,
                    device: torch.device) -> tuple[list[torch.Tensor], int, int]:
    """Concatenate the sources' representations per target view → ([(N, S*r, h, h)], N, image side)."""
    if isinstance(features, Mapping) or not features:
        raise InvalidInputError("features must be a non-empty sequence with one mapping (key -> array) per source")
    views: list[torch.Tensor] = []
    shape: tuple[int, ...] | None = None
    for key in target.inputs:
        parts = []
        for s, src in enumerate(features):
            if key not in src:
                raise InvalidInputError(f"features of source #{s} lack target input {key!r} of task {target.name!r}; "
                                        f"present: {', '.join(sorted(src)) or '(none)'}")
            a = np.asarray(src[key])
            if a.ndim != 4 or a.shape[1] != model.rep_channels or a.shape[2] != a.shape[3] or a.shape[0] == 0:
                raise InvalidInputError(f"features of source #{s} for {key!r} must have shape "
                                        f"(N, {model.rep_channels}, h, h) with N > 0, got {a.shape}")
            if shape is not None and a.shape != shape:
                raise InvalidInputError(f"features disagree in shape: {a.shape} (source #{s}, {key!r}) vs {shape}")
            shape = a.shape
            parts.append(a.astype(np.float32, copy=False))
        cat = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        views.append(to_tensor(cat, device, dtype=torch.float32))
    assert shape is not None
    return views, int(shape[0]), int(shape[2]) * model.stride


def _feature_stats(views: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.cat([v.detach().to("cpu", torch.float64) for v in views]).transpose(0, 1)
    flat = x.reshape(x.shape[0], -1)
    mean = flat.mean(dim=1)
    std = flat.std(dim=1, correction=0)
    std = torch.where(std > 1e-6, std, torch.ones_like(std))
    return mean.float(), std.float()


def train_transfer(
    target: TaskSpec,
    features: Sequence[Mapping[str, np.ndarray]],
    data: Mapping[str, np.ndarray],
    *,
    model: ModelConfig,
    train: TrainConfig,
    progress: Progress | None = None,
) -> TrainedNetwork:
    """Train a transfer from ``len(features)`` frozen sources to ``target`` on the transfer split.

    ``features``: one mapping per source, target input key → (N, r, h, h) representation;
    ``data``: the transfer split (its ``target.target`` array is the ground truth).
    """
    check_decodable(target)
    device = resolve_device(train.device)
    views, n, size = feature_tensors(target, features, model=model, device=device)
    y_raw = target_tensor(target, data, n=n, size=size, device=device)
    with seeded(train.seed):
        net = build_transfer(target, len(features), model, size=size)
    mean, std = _feature_stats(views)
    net.transfer.mean.copy_(mean)
    net.transfer.std.copy_(std)
    place(net, device)
    y = fit_target_norm(net.target, target, y_raw)
    metrics = fit(net, views, y, task=target, train=train, device=device, params=net.parameters(), progress=progress)
    return TrainedNetwork(task=target.name, state=cpu_state(net), metrics=metrics, kind="transfer",
                          n_sources=len(features), size=size, model=model.to_dict())


def load_transfer_module(target: TaskSpec, net: TrainedNetwork, *, model: ModelConfig,
                         device: torch.device) -> TransferNetwork:
    """Rebuild the torch module of a transfer network and load its state."""
    if net.kind != "transfer":
        raise InvalidInputError(f"network for {net.task!r} is a {net.kind!r} network, not a transfer")
    if net.task != target.name:
        raise InvalidInputError(f"transfer was trained for task {net.task!r}, not {target.name!r}")
    if net.model and net.model != model.to_dict():
        raise InvalidInputError(f"transfer was built with model config {net.model}, not {model.to_dict()}")
    module = build_transfer(target, net.n_sources, model, size=net.size)
    try:
        module.load_state_dict(net.state, strict=True)
    except RuntimeError as exc:
        raise InvalidInputError(f"transfer state does not fit the model config of {target.name!r}: {exc}") from None
    return place(module, device).eval()


def _prepare(target: TaskSpec, net: TrainedNetwork, features: Sequence[Mapping[str, np.ndarray]], *,
             model: ModelConfig, device: str) -> tuple[TransferNetwork, list[torch.Tensor], int, int, torch.device]:
    dev = resolve_device(device)
    module = load_transfer_module(target, net, model=model, device=dev)
    if len(features) != net.n_sources:
        raise InvalidInputError(f"transfer reads {net.n_sources} source(s), got features of {len(features)}")
    views, n, size = feature_tensors(target, features, model=model, device=dev)
    if size != net.size:
        raise InvalidInputError(f"transfer was trained on {net.size}px images, features are of {size}px images")
    return module, views, n, size, dev


def evaluate_transfer(target: TaskSpec, net: TrainedNetwork, features: Sequence[Mapping[str, np.ndarray]],
                      data: Mapping[str, np.ndarray], *, model: ModelConfig, device: str = "auto",
                      batch_size: int = EVAL_BATCH) -> np.ndarray:
    """Per-image test losses (N_test,) float64 of a transfer; regression losses in target units."""
    module, views, n, size, dev = _prepare(target, net, features, model=model, device=device)
    y = target_tensor(target, data, n=n, size=size, device=dev)
    return test_losses(module, views, y, task=target, device=dev, batch_size=batch_size)


def predict_transfer(target: TaskSpec, net: TrainedNetwork, features: Sequence[Mapping[str, np.ndarray]], *,
                     model: ModelConfig, device: str = "auto", batch_size: int = EVAL_BATCH) -> np.ndarray:
    """Predictions of a transfer, in the same form as :func:`taskonomy.training.predict`."""
    module, views, _, _, dev = _prepare(target, net, features, model=model, device=device)
    return predict_raw(module, views, task=target, device=dev, batch_size=batch_size).numpy()
