"""Device selection and mixed precision: CPU in float32, CUDA with bf16 autocast and channels_last."""

from __future__ import annotations

import contextlib
from typing import TypeVar

import torch
from torch import nn

from taskonomy.errors import PreconditionError
from taskonomy.training.config import validate_device

M = TypeVar("M", bound=nn.Module)


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` → ``cuda`` if available else ``cpu``; an explicit CUDA device must exist."""
    validate_device(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise PreconditionError(f"device {device!r} was requested but CUDA is not available here; use cpu or auto")
    return torch.device(device)


def autocast(device: torch.device) -> contextlib.AbstractContextManager[object]:
    """bf16 autocast on CUDA; a no-op on CPU (float32 keeps CPU runs bit-reproducible)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def memory_format(device: torch.device) -> torch.memory_format:
    """channels_last on CUDA (tensor-core friendly), contiguous elsewhere."""
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format


def place(module: M, device: torch.device) -> M:
    """Move ``module`` to ``device`` (channels_last on CUDA)."""
    module.to(device)
    if device.type == "cuda":
        module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return module
