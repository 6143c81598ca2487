"""Whole networks: task-specific (encoder + decoder) and transfer (frozen features → target).

State-dict layout (what :mod:`taskonomy.training` saves):

* task network: ``encoder.*``, ``decoder.*``, ``target.shift``, ``target.scale``;
* transfer network: ``transfer.*`` (incl. ``transfer.mean`` / ``transfer.std``, the feature
  standardisation), ``decoder.*``, ``target.shift``, ``target.scale``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from taskonomy.contract.config import ModelConfig
from taskonomy.errors import InvalidInputError
from taskonomy.nets.decoders import build_decoder, check_decodable, check_size
from taskonomy.nets.encoder import build_encoder
from taskonomy.nets.layers import ConvNormAct
from taskonomy.tasks import TaskSpec

#: Output kinds whose regression targets are standardised per channel (scale/shift from the train split).
NORMALISED_KINDS: frozenset[str] = frozenset({"pixels", "vector"})


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block (e.g. building a network) with torch's CPU generator seeded, then restore it.

    Parameter initialisation in ``torch.nn`` draws from the global generator; forking it keeps
    initialisation reproducible without leaking state into the caller.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


class TargetNorm(nn.Module):
    """Per-channel standardisation of a regression target: ``y_n = (y - shift) / scale``.

    Computed once from the training split and stored with the network (buffers), so that
    predictions can be mapped back to target units at evaluation. Identity (shift 0, scale 1)
    for kinds that are not standardised.
    """

    shift: torch.Tensor
    scale: torch.Tensor

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("shift", torch.zeros(channels))
        self.register_buffer("scale", torch.ones(channels))

    def _view(self, t: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return t.view(1, -1, *([1] * (ref.dim() - 2))).to(ref.dtype)

    def normalize(self, y: torch.Tensor) -> torch.Tensor:
        return (y - self._view(self.shift, y)) / self._view(self.scale, y)

    def denormalize(self, y: torch.Tensor) -> torch.Tensor:
        return y * self._view(self.scale, y) + self._view(self.shift, y)


class TaskNetwork(nn.Module):
    """Encoder + decoder: list of view images (B, 3, H, W) → prediction (normalised space / logits)."""

    def __init__(self, task: TaskSpec, cfg: ModelConfig, *, size: int) -> None:
        super().__init__()
        self.task_name = task.name
        self.views = len(task.inputs)
        self.encoder = build_encoder(cfg)
        self.decoder = build_decoder(task, cfg, size=size)
        self.target = TargetNorm(task.output.channels)

    def encode(self, images: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Shared (Siamese) encoder over every view, as one batched call."""
        if len(images) != self.views:
            raise InvalidInputError(f"task {self.task_name!r} reads {self.views} view(s), got {len(images)}")
        if len(images) == 1:
            return [self.encoder(images[0])]
        reps: torch.Tensor = self.encoder(torch.cat(list(images), dim=0))
        return list(reps.split(images[0].shape[0], dim=0))

    def forward(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        out: torch.Tensor = self.decoder(self.encode(images))
        return out


class TransferFunction(nn.Module):
    """Two conv layers over channel-concatenated frozen representations → one representation.

    ``(B, S*r, h, w)`` → standardise per channel (statistics of the transfer training
    features, stored as buffers) → 3x3 conv + norm + ReLU → 3x3 conv → ``(B, r, h, w)``.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, n_sources: int, cfg: ModelConfig) -> None:
        super().__init__()
        cin = n_sources * cfg.rep_channels
        self.register_buffer("mean", torch.zeros(cin))
        self.register_buffer("std", torch.ones(cin))
        self.conv1 = ConvNormAct(cin, cfg.transfer_width, norm=cfg.norm)
        self.conv2 = nn.Conv2d(cfg.transfer_width, cfg.rep_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.mean, self.std
        x = (x - mean.view(1, -1, 1, 1).to(x.dtype)) / std.view(1, -1, 1, 1).to(x.dtype)
        out: torch.Tensor = self.conv2(self.conv1(x))
        return out


class TransferNetwork(nn.Module):
    """Frozen source features (one (B, S*r, h, w) tensor per target view) → target prediction."""

    def __init__(self, target: TaskSpec, n_sources: int, cfg: ModelConfig, *, size: int) -> None:
        super().__init__()
        self.task_name = target.name
        self.views = len(target.inputs)
        self.n_sources = n_sources
        self.transfer = TransferFunction(n_sources, cfg)
        self.decoder = build_decoder(target, cfg, size=size)
        self.target = TargetNorm(target.output.channels)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(features) != self.views:
            raise InvalidInputError(f"task {self.task_name!r} reads {self.views} view(s), got {len(features)}")
        if len(features) == 1:
            reps = [self.transfer(features[0])]
        else:
            reps = list(self.transfer(torch.cat(list(features), dim=0)).split(features[0].shape[0], dim=0))
        out: torch.Tensor = self.decoder(reps)
        return out


def build_task_network(task: TaskSpec, cfg: ModelConfig, *, size: int) -> TaskNetwork:
    """Encoder + fresh decoder for ``task`` (Siamese over ``task.inputs``) at image side ``size``."""
    check_decodable(task)
    check_size(size, cfg.stride)
    return TaskNetwork(task, cfg, size=size)


def build_transfer(target: TaskSpec, n_sources: int, cfg: ModelConfig, *, size: int) -> TransferNetwork:
    """Transfer function (2 convs over ``n_sources`` concatenated representations) + fresh target decoder."""
    check_decodable(target)
    check_size(size, cfg.stride)
    if not isinstance(n_sources, int) or isinstance(n_sources, bool) or n_sources < 1:
        raise InvalidInputError(f"a transfer needs at least one source, got n_sources={n_sources!r}")
    return TransferNetwork(target, n_sources, cfg, size=size)
