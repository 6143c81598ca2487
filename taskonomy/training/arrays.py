"""Checking a split's arrays against the sample contract and turning them into tensors.

A split is a ``Mapping[str, numpy.ndarray]``: every sample key stacked on a leading N axis
(see :mod:`taskonomy.tasks._spec`). Nothing is copied on the CPU (tensors share numpy memory).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from taskonomy.errors import InvalidInputError
from taskonomy.nets import NORMALISED_KINDS, TargetNorm
from taskonomy.tasks import SEMANTIC_UNCERTAIN, TaskSpec


def _get(data: Mapping[str, np.ndarray], key: str, what: str) -> np.ndarray:
    if key not in data:
        raise InvalidInputError(f"{what} has no key {key!r}; keys present: {', '.join(sorted(data)) or '(none)'}")
    return np.asarray(data[key])


def image_size(data: Mapping[str, np.ndarray], keys: Sequence[str]) -> tuple[int, int]:
    """(N, side) of the images under ``keys``; all must be (N, 3, S, S) float (networks check that S
    is a multiple of their encoder's stride when they are built)."""
    if not keys:
        raise InvalidInputError("at least one image key is needed")
    n_side: tuple[int, int] | None = None
    for key in keys:
        a = _get(data, key, "data")
        if a.ndim != 4 or a.shape[1] != 3 or a.shape[2] != a.shape[3]:
            raise InvalidInputError(f"image array {key!r} must have shape (N, 3, S, S), got {a.shape}")
        if not np.issubdtype(a.dtype, np.floating):
            raise InvalidInputError(f"image array {key!r} must be float (values in [0, 1]), got {a.dtype}")
        if a.shape[0] == 0:
            raise InvalidInputError(f"image array {key!r} is empty")
        cur = (int(a.shape[0]), int(a.shape[2]))
        if n_side is not None and cur != n_side:
            raise InvalidInputError(f"image arrays disagree: {key!r} has N={cur[0]}, side={cur[1]}; expected {n_side}")
        n_side = cur
    assert n_side is not None
    return n_side


def to_tensor(a: np.ndarray, device: torch.device, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    """numpy → torch without a copy on the CPU (a copy only where dtype/layout/device require one)."""
    t = torch.from_numpy(np.ascontiguousarray(a)) if a.flags.writeable else torch.tensor(a)
    return t.to(device=device, dtype=dtype or t.dtype)


def image_tensors(data: Mapping[str, np.ndarray], keys: Sequence[str], device: torch.device) -> list[torch.Tensor]:
    """One float32 (N, 3, S, S) tensor per key."""
    image_size(data, keys)
    return [to_tensor(np.asarray(data[k]), device, dtype=torch.float32) for k in keys]


def target_tensor(task: TaskSpec, data: Mapping[str, np.ndarray], *, n: int, size: int,
                  device: torch.device) -> torch.Tensor:
    """The task's target, checked against ``task.output.target_shape(size)`` and dtype."""
    a = _get(data, task.target, "data")
    want = (n, *task.output.target_shape(size))
    if tuple(a.shape) != want:
        raise InvalidInputError(f"target {task.target!r} of task {task.name!r} must have shape {want}, got {a.shape}")
    if task.output.target_dtype() == "int64":
        if not np.issubdtype(a.dtype, np.integer):
            raise InvalidInputError(f"target {task.target!r} of task {task.name!r} must be integer, got {a.dtype}")
        t = to_tensor(a, device, dtype=torch.long)
        # dense labels may mark uncertain pixels (SEMANTIC_UNCERTAIN), which the losses leave out
        low = SEMANTIC_UNCERTAIN if task.output.kind == "labels" else 0
        if task.output.kind in ("labels", "class") and (t.min() < low or t.max() >= task.output.channels):
            extra = f" or {SEMANTIC_UNCERTAIN} (uncertain)" if low < 0 else ""
            raise InvalidInputError(
                f"target {task.target!r} of task {task.name!r} must hold class ids in "
                f"[0, {task.output.channels}){extra}, got values in [{int(t.min())}, {int(t.max())}]")
        return t
    if not np.issubdtype(a.dtype, np.floating) and not np.issubdtype(a.dtype, np.integer):
        raise InvalidInputError(f"target {task.target!r} of task {task.name!r} must be numeric, got {a.dtype}")
    t = to_tensor(a, device, dtype=torch.float32)
    if not bool(torch.isfinite(t).all()):
        raise InvalidInputError(f"target {task.target!r} of task {task.name!r} holds NaN or infinite values")
    return t


def target_stats(task: TaskSpec, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (shift, scale) = (mean, std) of a regression target over all images and pixels.

    Identity (0, 1) for kinds that are not standardised; a constant channel keeps scale 1.
    """
    c = task.output.channels
    if task.output.kind not in NORMALISED_KINDS:
        return torch.zeros(c), torch.ones(c)
    t = target.detach().to("cpu", torch.float64)
    flat = t.transpose(0, 1).reshape(c, -1)
    shift = flat.mean(dim=1)
    scale = flat.std(dim=1, correction=0) if flat.shape[1] > 1 else torch.ones(c, dtype=torch.float64)
    scale = torch.where(scale > 1e-6, scale, torch.ones_like(scale))
    return shift.float(), scale.float()


def fit_target_norm(norm: TargetNorm, task: TaskSpec, target: torch.Tensor) -> torch.Tensor:
    """Set ``norm``'s (shift, scale) from the raw training ``target`` and return the tensor to fit:
    the standardised target for regression kinds, ``target`` itself otherwise."""
    shift, scale = target_stats(task, target)
    norm.shift.copy_(shift)
    norm.scale.copy_(scale)
    return norm.normalize(target) if task.output.kind in NORMALISED_KINDS else target
