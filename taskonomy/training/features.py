"""Frozen encoders and feature extraction (representations computed once per source and split)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from taskonomy.errors import InvalidInputError
from taskonomy.nets import ModelConfig, build_encoder, seeded
from taskonomy.training.arrays import image_size, to_tensor
from taskonomy.training.artifacts import encoder_state
from taskonomy.training.device import autocast, memory_format, place, resolve_device

__all__ = ["encoder_state", "extract_features", "random_encoder_state"]


def random_encoder_state(model: ModelConfig, *, seed: int) -> dict[str, torch.Tensor]:
    """State of a randomly initialised encoder (the ``random`` source), reproducible from ``seed``."""
    with seeded(seed):
        enc = build_encoder(model)
    return {k: v.detach().clone().contiguous() for k, v in enc.state_dict().items()}


@torch.no_grad()
def extract_features(
    encoder_state: Mapping[str, torch.Tensor],
    data: Mapping[str, np.ndarray],
    *,
    keys: Sequence[str],
    model: ModelConfig,
    batch_size: int = 256,
    device: str = "auto",
) -> dict[str, np.ndarray]:
    """Run a frozen encoder over the images under ``keys`` (any image keys: a target's inputs).

    Returns one float32 array (N, rep_channels, S/8, S/8) per key. On CUDA the encoder runs
    under bf16 autocast and the result is stored as float32.
    """
    if isinstance(keys, str):
        raise InvalidInputError(f"keys must be a sequence of image keys, got the string {keys!r}")
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
    n, _ = image_size(data, list(keys))
    dev = resolve_device(device)
    enc = build_encoder(model)
    try:
        enc.load_state_dict(dict(encoder_state), strict=True)
    except RuntimeError as exc:
        raise InvalidInputError(f"encoder state does not fit model config {model.to_dict()}: {exc}") from None
    place(enc, dev).eval()
    out: dict[str, np.ndarray] = {}
    for key in dict.fromkeys(keys):
        images = to_tensor(np.asarray(data[key]), torch.device("cpu"), dtype=torch.float32)
        chunks = []
        for lo in range(0, n, batch_size):
            x = images[lo : lo + batch_size].to(dev).contiguous(memory_format=memory_format(dev))
            with autocast(dev):
                rep = enc(x)
            chunks.append(rep.float().to("cpu").contiguous())
        out[key] = torch.cat(chunks).numpy()
    return out
