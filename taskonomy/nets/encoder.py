"""The one encoder architecture every task uses.

A small residual, fully convolutional network without global pooling: three stages of residual
blocks, entered through a convolution that halves the resolution (the first ``log2(stride)`` of
them; a fourth one follows the last stage at stride 16), then a 1x1 convolution down to the
representation of ``(B, rep_channels, H/stride, W/stride)`` — the paper's 16x16x8 bottleneck for
a 256 input at stride 16. The bottleneck is deliberately small so that transfers measure what the
representation *contains*, not what a wide feature map could re-learn.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from taskonomy.contract.config import ModelConfig
from taskonomy.nets._registry import Registry
from taskonomy.nets.layers import ConvNormAct, ResBlock

#: Encoder builders by name (``ModelConfig.encoder``).
ENCODERS: Registry[Callable[[ModelConfig], nn.Module]] = Registry("encoder")


class ResNetEncoder(nn.Module):
    """image (B, 3, H, W) in [0, 1] → representation (B, rep_channels, H/stride, W/stride)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        w, n = cfg.width, cfg.blocks
        halvings = cfg.stride.bit_length() - 1  # log2(stride): stem, down2, down3 (and down4) halve
        s1, s2, s3 = (2 if halvings > i else 1 for i in range(3))
        self.stem = ConvNormAct(3, w, norm=cfg.norm, stride=s1)
        self.stage1 = nn.Sequential(*[ResBlock(w, norm=cfg.norm) for _ in range(n)])
        self.down2 = ConvNormAct(w, 2 * w, norm=cfg.norm, stride=s2)
        self.stage2 = nn.Sequential(*[ResBlock(2 * w, norm=cfg.norm) for _ in range(n)])
        self.down3 = ConvNormAct(2 * w, 2 * w, norm=cfg.norm, stride=s3)
        self.stage3 = nn.Sequential(*[ResBlock(2 * w, norm=cfg.norm) for _ in range(n)])
        self.down4 = ConvNormAct(2 * w, 2 * w, norm=cfg.norm, stride=2) if halvings > 3 else nn.Identity()
        self.head = nn.Conv2d(2 * w, cfg.rep_channels, 1)
        self.rep_channels = cfg.rep_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * 2.0 - 1.0
        x = self.stage1(self.stem(x))
        x = self.stage2(self.down2(x))
        x = self.down4(self.stage3(self.down3(x)))
        out: torch.Tensor = self.head(x)
        return out


ENCODERS.register("resnet")(ResNetEncoder)


def build_encoder(cfg: ModelConfig) -> nn.Module:
    """The encoder of ``cfg``: image (B, 3, H, W) → representation (B, rep_channels, H/s, W/s), s = cfg.stride.

    Parameters are initialised from torch's global generator; callers wanting a seeded
    initialisation wrap the call in :func:`taskonomy.nets.seeded`.
    """
    return ENCODERS.get(cfg.encoder)(cfg)
