"""Model configuration: the one place architecture hyper-parameters live."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from taskonomy._config import config_kwargs
from taskonomy.errors import InvalidInputError

NORMS: tuple[str, ...] = ("group", "batch", "none")
#: Encoder downsampling factors: the representation is (rep_channels, H / stride, W / stride).
STRIDES: tuple[int, ...] = (2, 4, 8, 16)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of every encoder, decoder and transfer function of one experiment.

    Attributes:
        width: channels of the first encoder stage (later stages use ``2 * width``).
        rep_channels: channels C of the representation (B, C, H/stride, W/stride) — the
            bottleneck (the paper used 16x16x8 for a 256 input: stride 16).
        stride: downsampling factor of the encoder, one of :data:`STRIDES`; the dense decoders
            upsample by the same factor.
        blocks: residual blocks per encoder stage (three stages; see :mod:`taskonomy.nets.encoder`).
        norm: normalisation layer inside encoder, decoders and transfer function: ``batch``
            (BatchNorm; running statistics at evaluation), ``group`` (GroupNorm, identical in
            training and evaluation) or ``none``. BatchNorm learned clearly faster on the
            built-in world (32px depth, 192 steps: test L1 0.52 m vs 0.61 m with GroupNorm).
        transfer_width: hidden channels of the two-conv transfer function.
        hidden: hidden units of the fully connected layers of global (vector / class) decoders.
        encoder: registered encoder architecture name.
    """

    width: int = 16
    rep_channels: int = 8
    blocks: int = 2
    norm: str = "batch"
    transfer_width: int = 32
    hidden: int = 128
    encoder: str = "resnet"
    stride: int = 8

    def __post_init__(self) -> None:
        if self.stride not in STRIDES or isinstance(self.stride, bool):
            raise InvalidInputError(f"ModelConfig.stride must be one of {', '.join(map(str, STRIDES))}, "
                                    f"got {self.stride!r}")
        for name in ("width", "rep_channels", "transfer_width", "hidden"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 4096:
                raise InvalidInputError(f"ModelConfig.{name} must be an integer in [1, 4096], got {value!r}")
        if not isinstance(self.blocks, int) or isinstance(self.blocks, bool) or not 0 <= self.blocks <= 16:
            raise InvalidInputError(f"ModelConfig.blocks must be an integer in [0, 16], got {self.blocks!r}")
        if self.norm not in NORMS:
            raise InvalidInputError(f"ModelConfig.norm must be one of {', '.join(NORMS)}, got {self.norm!r}")
        if not isinstance(self.encoder, str) or not self.encoder:
            raise InvalidInputError(f"ModelConfig.encoder must be a non-empty name, got {self.encoder!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (stable keys; part of artifact hashes)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys are refused, missing keys take defaults."""
        return cls(**config_kwargs(cls, data, what="model config"))
