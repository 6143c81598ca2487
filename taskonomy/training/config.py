"""Training configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from taskonomy._config import config_kwargs
from taskonomy.errors import InvalidInputError

DEVICES_HELP = "auto, cpu, cuda or cuda:N"
#: Training precisions (see :func:`taskonomy.training.device.autocast`).
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    """How one network is trained.

    Attributes:
        epochs: passes over the training data.
        batch_size: images per optimiser step.
        lr: peak AdamW learning rate (cosine-decayed to ``lr / 20`` over the run).
        weight_decay: AdamW decoupled weight decay.
        seed: seeds initialisation, shuffling and pixel sampling (local generators only).
        device: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.
        max_steps: stop after this many optimiser steps (0: no limit).
        embed_pixels: pixels per image sampled by the metric-embedding training loss (0: all).
        precision: training arithmetic: ``auto`` (bf16 autocast on CUDA, float32 on the CPU),
            ``fp32``, or ``bf16`` (bf16 autocast on the CPU too: several times faster where the
            CPU has AMX or AVX-512 BF16, not bit-identical to float32). Evaluation is unaffected.
    """

    epochs: int = 5
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "auto"
    max_steps: int = 0
    embed_pixels: int = 256
    precision: str = "auto"

    def __post_init__(self) -> None:
        if not isinstance(self.epochs, int) or isinstance(self.epochs, bool) or self.epochs < 1:
            raise InvalidInputError(f"TrainConfig.epochs must be an integer >= 1, got {self.epochs!r}")
        if not isinstance(self.batch_size, int) or isinstance(self.batch_size, bool) or self.batch_size < 1:
            raise InvalidInputError(f"TrainConfig.batch_size must be an integer >= 1, got {self.batch_size!r}")
        for name in ("max_steps", "embed_pixels", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidInputError(f"TrainConfig.{name} must be an integer >= 0, got {value!r}")
        if not isinstance(self.lr, int | float) or not 0 < float(self.lr) < 10:
            raise InvalidInputError(f"TrainConfig.lr must be a number in (0, 10), got {self.lr!r}")
        if not isinstance(self.weight_decay, int | float) or not 0 <= float(self.weight_decay) < 10:
            raise InvalidInputError(f"TrainConfig.weight_decay must be a number in [0, 10), got {self.weight_decay!r}")
        validate_device(self.device)
        if self.precision not in PRECISIONS:
            raise InvalidInputError(f"TrainConfig.precision must be one of {', '.join(PRECISIONS)}, "
                                    f"got {self.precision!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (stable keys)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are refused, missing keys take defaults."""
        return cls(**config_kwargs(cls, data, what="train config"))


def validate_device(device: str) -> None:
    """Refuse device names other than auto / cpu / cuda / cuda:N (availability is checked at use)."""
    ok = isinstance(device, str) and (
        device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())
    )
    if not ok:
        raise InvalidInputError(f"device must be one of {DEVICES_HELP}, got {device!r}")
