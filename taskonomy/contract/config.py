"""The configuration blocks of an experiment: every setting and its bounds, defined once.

pydantic models without torch, so the experiment spec (:class:`taskonomy.contract.ExperimentSpec`,
which embeds them), the gateway, the workers and the training code all validate with the same
definitions and the JSON schema of the spec shows every bound:

- :class:`ModelConfig`: the architecture of every encoder, decoder and transfer function (the
  spec's ``model`` block; the builders of :mod:`taskonomy.nets` read it);
- :class:`TrainSettings`: how a network is trained (the spec's ``train`` and ``transfer`` blocks);
- :class:`TrainConfig`: those settings plus what a run adds (seed, device, step limit, pixels of
  the embedding loss): what :mod:`taskonomy.training` takes.

Every block is frozen and refuses unknown keys. Built directly (``ModelConfig(width=0)``) a block
raises :class:`~taskonomy.errors.InvalidInputError` naming the field; inside a spec, pydantic's
``ValidationError`` carries the field's ``loc`` (``model.width``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from taskonomy.errors import InvalidInputError, format_validation_error

#: Encoder downsampling factors (:attr:`ModelConfig.stride`): the representation is
#: (rep_channels, H / stride, W / stride), so image sides are multiples of the stride.
STRIDES: tuple[int, ...] = (2, 4, 8, 16)
Stride = Literal[2, 4, 8, 16]


def stride_problem(size: object, stride: int) -> str | None:
    """Why ``size`` cannot be an image side for an encoder of ``stride`` (None: it can). The one
    home of the rule: the spec's validation and the network builders both ask it."""
    if not isinstance(size, int) or isinstance(size, bool) or size < stride or size % stride:
        return f"must be a positive multiple of the encoder stride {stride}, got {size!r}"
    return None


#: Normalisation layers (:attr:`ModelConfig.norm`).
NORMS: tuple[str, ...] = ("group", "batch", "none")
Norm = Literal["group", "batch", "none"]
#: Training precisions (see :func:`taskonomy.training.device.autocast`).
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
Precision = Literal["auto", "fp32", "bf16"]
DEVICES_HELP = "auto, cpu, cuda or cuda:N"


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool | str):
        raise ValueError(f"must be an integer, not {value!r}")
    return value


#: An integer that refuses ``true``/``false`` and text (pydantic would read them as 1, 0 and the
#: number the text spells; JSON numbers such as ``32.0`` are accepted). Bounds go in
#: ``Field(...)`` as the default (``x: Int = Field(default=1, ge=1)``): there the JSON schema shows them.
Int = Annotated[int, BeforeValidator(_not_bool)]
#: A finite float (no NaN or infinity).
Float = Annotated[float, Field(allow_inf_nan=False)]


class FrozenModel(BaseModel):
    """A frozen pydantic model that refuses unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ConfigModel(FrozenModel):
    """A configuration block; built directly, it reports problems as InvalidInputError."""

    #: How errors name the block when it is built directly (``"model config: width: ..."``).
    config_name: ClassVar[str] = "config"

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise InvalidInputError(f"{self.config_name}: {format_validation_error(exc, type(self))}") from None

    # Validation inside another model (a spec's ``model`` block) builds the block without calling
    # ``__init__`` only when pydantic sees its own base ``__init__`` (as RootModel marks its own):
    # then the errors keep their ``loc`` (``model.width``), and only direct construction is wrapped.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready (stable keys)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Inverse of :meth:`to_dict`; unknown keys are refused, missing keys take the defaults."""
        if not isinstance(data, Mapping):
            raise InvalidInputError(f"{cls.config_name} must be a mapping, got {type(data).__name__}")
        return cls(**{str(k): v for k, v in data.items()})

    def replace(self, **changes: Any) -> Self:
        """A validated copy with ``changes`` (fields not given stay as they were, set or not)."""
        return type(self)(**{**self.model_dump(exclude_unset=True), **changes})


class ModelConfig(ConfigModel):
    """Architecture of every encoder, decoder and transfer function of one experiment."""

    config_name: ClassVar[str] = "model config"

    width: Int = Field(default=16, ge=1, le=4096, description="channels of the first encoder stage (later stages "
                                                             "use 2 * width)")
    rep_channels: Int = Field(default=8, ge=1, le=4096, description=(
        "channels C of the representation (B, C, H/stride, W/stride): the bottleneck (the paper used 16x16x8 for "
        "a 256 input: stride 16)"))
    blocks: Int = Field(default=2, ge=0, le=16, description="residual blocks per encoder stage (three stages; see "
                                                           "taskonomy.nets.encoder)")
    norm: Annotated[Norm, Field(description=(
        "normalisation inside encoder, decoders and transfer function: batch (BatchNorm; running statistics at "
        "evaluation), group (GroupNorm, the same in training and evaluation) or none. BatchNorm learned clearly "
        "faster on the built-in world (32px depth, 192 steps: test L1 0.52 m vs 0.61 m with GroupNorm)"))] = "batch"
    transfer_width: Int = Field(default=32, ge=1, le=4096, description="hidden channels of the two-conv transfer "
                                                                     "function")
    hidden: Int = Field(default=128, ge=1, le=4096, description="hidden units of the fully connected layers of "
                                                             "global (vector / class) decoders")
    encoder: Annotated[str, Field(min_length=1, description="registered encoder architecture "
                                                            "(taskonomy.nets.ENCODERS)")] = "resnet"
    stride: Annotated[Stride, Field(description="downsampling factor of the encoder; the dense decoders upsample "
                                                "by the same factor")] = 8


class TrainSettings(ConfigModel):
    """How a network is trained: the ``train`` (task networks) and ``transfer`` (transfers and the
    pixels baseline) blocks of an experiment spec."""

    config_name: ClassVar[str] = "train config"

    epochs: Int = Field(default=5, ge=1, le=10_000, description="passes over the training data")
    batch_size: Int = Field(default=32, ge=1, le=65_536, description="images per optimiser step")
    lr: Annotated[Float, Field(gt=0, lt=10, description="peak AdamW learning rate (cosine-decayed to lr / 20 "
                                                        "over the run)")] = 1e-3
    weight_decay: Annotated[Float, Field(ge=0, lt=10, description="AdamW decoupled weight decay")] = 0.0
    precision: Annotated[Precision, Field(description=(
        "training arithmetic: auto (bf16 autocast on CUDA, float32 on the CPU), fp32, or bf16 (bf16 autocast on "
        "the CPU too: several times faster where the CPU has AMX, not bit-identical to float32); evaluation is "
        "unaffected"))] = "auto"


class TrainConfig(TrainSettings):
    """How one network is trained: :class:`TrainSettings` plus what the run decides."""

    seed: Int = Field(default=0, ge=0, description="seeds initialisation, shuffling and pixel sampling (local "
                                                 "generators only)")
    device: Annotated[str, Field(description=f"{DEVICES_HELP}: auto is CUDA when available, else the CPU")] = "auto"
    max_steps: Int = Field(default=0, ge=0, description="stop after this many optimiser steps (0: no limit)")
    embed_pixels: Int = Field(default=256, ge=0, description="pixels per image sampled by the metric-embedding "
                                                         "training loss (0: all)")

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        validate_device(value)
        return value


def validate_device(device: str) -> None:
    """Refuse device names other than auto / cpu / cuda / cuda:N (availability is checked at use)."""
    ok = isinstance(device, str) and (
        device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())
    )
    if not ok:
        raise InvalidInputError(f"device must be one of {DEVICES_HELP}, got {device!r}")
