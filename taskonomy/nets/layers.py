"""Building blocks shared by encoders, decoders and transfer functions."""

from __future__ import annotations

import torch
from torch import nn

from taskonomy.errors import InvalidInputError


def norm_layer(kind: str, channels: int) -> nn.Module:
    """Normalisation for ``channels`` feature maps: GroupNorm (4 groups where they divide), BatchNorm or none."""
    if kind == "group":
        groups = 4 if channels % 4 == 0 else 1
        return nn.GroupNorm(groups, channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise InvalidInputError(f"unknown norm {kind!r}; known: batch, group, none")


class ConvNormAct(nn.Sequential):
    """``k x k`` convolution (optionally strided), normalisation, ReLU."""

    def __init__(self, cin: int, cout: int, *, norm: str, stride: int = 1, kernel: int = 3) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=norm == "none"),
            norm_layer(norm, cout),
            nn.ReLU(inplace=True),
        )


class ResBlock(nn.Module):
    """Basic residual block ``relu(x + norm(conv(relu(norm(conv(x))))))``.

    The last normalisation (or convolution, without normalisation) starts at zero, so each
    block starts as the identity (He et al. 2016; Goyal et al. 2017, "zero-gamma").
    """

    def __init__(self, channels: int, *, norm: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=norm == "none")
        self.norm1 = norm_layer(norm, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=norm == "none")
        self.norm2 = norm_layer(norm, channels)
        self.act = nn.ReLU(inplace=True)
        last = self.norm2 if norm != "none" else self.conv2
        weight = getattr(last, "weight", None)
        if isinstance(weight, torch.Tensor):
            nn.init.zeros_(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        return self.act(x + y)
