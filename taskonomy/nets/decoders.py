"""Task decoders, one family per output kind.

Every decoder maps the representation(s) of the task's input view(s) — a list of
``(B, rep_channels, H/8, W/8)`` tensors, or one tensor for a single view — to a prediction:

============================  =================  ===========================================
output kind                   decoder            prediction
============================  =================  ===========================================
pixels, labels, embedding     ``dense``          (B, C, H, W): regression map, class logits
                                                 or per-pixel embedding
vector, class, distribution,  ``global``         (B, C): regression vector or logits
binary
============================  =================  ===========================================

Dense decoders upsample twice (nearest neighbour + 3x3 conv) to H/2, then a 1x1 conv and a
pixel shuffle give the full-resolution map. Global decoders keep the spatial layout (no
global pooling, as in the paper: a camera pose or a room layout is *where* things are): a
3x3 conv per view, the views' maps concatenated channel-wise (the Siamese combination for
multi-view tasks, with weights shared across views), flattened, then two fully connected
layers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from taskonomy.contract.config import ModelConfig, stride_problem
from taskonomy.errors import InvalidInputError
from taskonomy.nets._registry import Registry
from taskonomy.nets.layers import ConvNormAct
from taskonomy.tasks import TaskSpec

DecoderBuilder = Callable[[TaskSpec, ModelConfig, int], nn.Module]

#: Decoder builders by family name; :func:`decoder_family` maps an output kind to a family.
DECODERS: Registry[DecoderBuilder] = Registry("decoder")

_FAMILY: dict[str, str] = {
    "pixels": "dense", "labels": "dense", "embedding": "dense",
    "vector": "global", "class": "global", "distribution": "global", "binary": "global",
}


def decoder_family(kind: str) -> str:
    """``dense`` or ``global`` for an output kind; ``none`` has no decoder."""
    if kind not in _FAMILY:
        raise InvalidInputError(f"output kind {kind!r} has no decoder; kinds with one: {', '.join(_FAMILY)}")
    return _FAMILY[kind]


def _as_list(reps: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [reps] if isinstance(reps, torch.Tensor) else list(reps)


class DenseDecoder(nn.Module):
    """Representation(s) (B, V*r, H/s, W/s) → map (B, C, H, W); views concatenated channel-wise.

    A convolution, then ``log2(s) - 1`` times a nearest 2x upsampling and a convolution (the last
    one narrowing to ``width`` channels), then the last doubling by sub-pixel convolution.
    """

    def __init__(self, *, in_channels: int, out_channels: int, cfg: ModelConfig) -> None:
        super().__init__()
        w = cfg.width
        ups = cfg.stride.bit_length() - 2  # doublings before the sub-pixel one
        layers: list[nn.Module] = [ConvNormAct(in_channels, 2 * w if ups else w, norm=cfg.norm)]
        for i in range(ups):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"),
                       ConvNormAct(2 * w, w if i == ups - 1 else 2 * w, norm=cfg.norm)]
        self.body = nn.Sequential(*layers)
        # Last doubling by sub-pixel convolution (Shi et al. 2016): a 1x1 conv predicts the 2x2
        # block of every output pixel at H/2, PixelShuffle lays it out at H. Full resolution
        # detail without any full-resolution convolution (about a third of a dense step saved).
        self.out = nn.Sequential(nn.Conv2d(w, 4 * out_channels, 1), nn.PixelShuffle(2))

    def forward(self, reps: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        views = _as_list(reps)
        x = views[0] if len(views) == 1 else torch.cat(views, dim=1)
        out: torch.Tensor = self.out(self.body(x))
        return out


class GlobalDecoder(nn.Module):
    """Representation(s) → vector (B, C): shared per-view conv, concatenation, flatten, 2 FC layers."""

    def __init__(self, *, rep_channels: int, out_features: int, views: int, size: int, cfg: ModelConfig) -> None:
        super().__init__()
        side = size // cfg.stride
        self.views = views
        self.per_view = ConvNormAct(rep_channels, cfg.width, norm=cfg.norm)
        self.fc = nn.Sequential(
            nn.Flatten(),
            nn.Linear(views * cfg.width * side * side, cfg.hidden),
            nn.ReLU(inplace=True),
            nn.Linear(cfg.hidden, out_features),
        )

    def forward(self, reps: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        views = _as_list(reps)
        if len(views) != self.views:
            raise InvalidInputError(f"decoder expects {self.views} view(s), got {len(views)}")
        b = views[0].shape[0]
        # One conv call over all views stacked on the batch axis (shared weights), then views side by side.
        maps = self.per_view(torch.cat(views, dim=0) if len(views) > 1 else views[0])
        if len(views) > 1:
            maps = torch.cat(maps.split(b, dim=0), dim=1)
        out: torch.Tensor = self.fc(maps)
        return out


@DECODERS.register("dense")
def _dense(task: TaskSpec, cfg: ModelConfig, size: int) -> nn.Module:
    return DenseDecoder(in_channels=cfg.rep_channels * len(task.inputs), out_channels=task.output.channels, cfg=cfg)


@DECODERS.register("global")
def _global(task: TaskSpec, cfg: ModelConfig, size: int) -> nn.Module:
    return GlobalDecoder(rep_channels=cfg.rep_channels, out_features=task.output.channels,
                         views=len(task.inputs), size=size, cfg=cfg)


def check_size(size: int, stride: int) -> None:
    """Image sides must be positive multiples of the encoder stride (the rule:
    :func:`taskonomy.contract.config.stride_problem`)."""
    problem = stride_problem(size, stride)
    if problem is not None:
        raise InvalidInputError(f"image size {problem}")


def check_decodable(task: TaskSpec) -> None:
    """Refuse tasks without a target (``random``) or without inputs."""
    if not task.trainable or task.output.kind == "none" or not task.target:
        raise InvalidInputError(f"task {task.name!r} has no target to decode (output kind {task.output.kind!r})")
    if not task.inputs:
        raise InvalidInputError(f"task {task.name!r} has no input image keys")
    if task.output.channels < 1:
        raise InvalidInputError(f"task {task.name!r}: output channels must be >= 1, got {task.output.channels}")


def build_decoder(task: TaskSpec, cfg: ModelConfig, *, size: int) -> nn.Module:
    """Fresh decoder for ``task`` at image side ``size``.

    Its ``forward`` takes the list of per-view representations (one tensor for single-view
    tasks is accepted too) and returns the prediction in *normalised* target space (see
    :class:`taskonomy.nets.network.TargetNorm`) or logits.
    """
    check_decodable(task)
    check_size(size, cfg.stride)
    return DECODERS.get(decoder_family(task.output.kind))(task, cfg, size)
