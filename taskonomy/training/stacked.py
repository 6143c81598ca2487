"""Stacked readouts: K transfer networks of one architecture as one module with grouped kernels.

A stack of K :class:`~taskonomy.nets.TransferNetwork` s reads the channel concatenation of the
members' feature batches, ``(B, K*cin, h, w)``, and returns the members' predictions side by
side, ``(B, K*out, H, W)`` (dense) or ``(B, K*out)`` (global), member ``k``'s block at
``[k*out:(k+1)*out]``. Every layer keeps the members apart:

* the feature standardisation buffers (``mean`` / ``std``) are concatenated per channel;
* ``Conv2d(cin, cout)`` → ``Conv2d(K*cin, K*cout, groups=K)``, weights and biases concatenated
  along the output channels (group ``k`` reads member ``k``'s input channels only);
* ``BatchNorm2d(C)`` → ``BatchNorm2d(K*C)`` and ``GroupNorm(g, C)`` → ``GroupNorm(K*g, K*C)``:
  batch statistics are per channel and groups are runs of consecutive channels, so both are
  exact;
* ``PixelShuffle(r)`` turns each run of r² consecutive channels into one channel, which keeps
  member blocks contiguous; ReLU, Upsample, Identity act per element or per channel;
* ``Flatten`` of ``(B, K*C, s, s)`` is channel-major, so member ``k``'s features are the
  contiguous run ``[k*C*s*s:(k+1)*C*s*s]`` in the member's own order, and ``Linear(i, o)``
  becomes :class:`GroupedLinear` (weight ``(K, o, i)``, one batched matmul).

The stack's parameter and buffer names equal the members' (``transfer.*``, ``decoder.*``), so
stacking and :func:`write_back` are exact copies: concatenation along dim 0 (``stack`` for the
grouped linear layers), and back by slicing. The target normaliser (``target.*``) is not part
of the stack; it is used only by the loss and evaluation, on the member.

Optimiser state goes the same way: :func:`stacked_adamw` builds the stack's AdamW from the
members' state (joined like their parameters) and :func:`write_back_optimizer_state` splits it
back, so training continues member by member exactly where the stack left off.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from taskonomy.errors import InvalidInputError
from taskonomy.nets import TransferNetwork
from taskonomy.nets.decoders import DenseDecoder, GlobalDecoder
from taskonomy.nets.layers import ConvNormAct
from taskonomy.nets.network import TransferFunction
from taskonomy.training.device import place

__all__ = ["GroupedLinear", "StackedTransfer", "join_tensors", "member_tensor", "split_tensor", "stack_signature",
           "stacked_adamw", "write_back", "write_back_optimizer_state"]

_CONTAINERS = (nn.Sequential, ConvNormAct, TransferFunction, DenseDecoder, GlobalDecoder)


class GroupedLinear(nn.Module):
    """K independent ``Linear(i, o)`` layers over ``(B, K*i)`` → ``(B, K*o)`` (one batched matmul)."""

    def __init__(self, k: int, in_features: int, out_features: int, *, bias: bool = True) -> None:
        super().__init__()
        self.k, self.in_features, self.out_features = k, in_features, out_features
        self.weight = nn.Parameter(torch.empty(k, out_features, in_features))
        self.bias: nn.Parameter | None = nn.Parameter(torch.empty(k, out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        xs = x.reshape(b, self.k, self.in_features).transpose(0, 1)  # (K, B, i)
        w = self.weight.transpose(1, 2)  # (K, i, o)
        # baddbmm (like Linear's addmm) casts the bias along with the operands under autocast.
        y = torch.bmm(xs, w) if self.bias is None else torch.baddbmm(self.bias.unsqueeze(1), xs, w)
        return y.transpose(0, 1).reshape(b, self.k * self.out_features)


def _leaf_signature(m: nn.Module) -> tuple[object, ...] | None:
    if isinstance(m, nn.Conv2d):
        if m.groups != 1 or m.padding_mode != "zeros" or isinstance(m.padding, str):
            return None
        return ("conv", m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation,
                m.bias is not None)
    if isinstance(m, nn.BatchNorm2d):
        return ("batch", m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats)
    if isinstance(m, nn.GroupNorm):
        return ("group", m.num_groups, m.num_channels, m.eps, m.affine)
    if isinstance(m, nn.Linear):
        return ("linear", m.in_features, m.out_features, m.bias is not None)
    if isinstance(m, nn.PixelShuffle):
        return ("pixel_shuffle", m.upscale_factor)
    if isinstance(m, nn.Upsample):
        if m.size is not None:
            return None
        return ("upsample", m.scale_factor, m.mode, m.align_corners)
    if isinstance(m, nn.Flatten):
        return ("flatten",) if (m.start_dim, m.end_dim) == (1, -1) else None
    if isinstance(m, nn.ReLU):
        return ("relu",)
    if isinstance(m, nn.Identity):
        return ("identity",)
    return None


def stack_signature(net: TransferNetwork) -> tuple[object, ...] | None:
    """Hashable architecture of ``net``'s trainable part; ``None`` where it cannot be stacked.

    Stackable: single-view transfers (``net.views == 1``) with a dense or global decoder made
    of the layers listed in the module docstring (norms batch, group or none).
    """
    if not isinstance(net, TransferNetwork) or net.views != 1:
        return None
    if not isinstance(net.transfer, TransferFunction) or type(net.decoder) not in (DenseDecoder, GlobalDecoder):
        return None
    if isinstance(net.decoder, GlobalDecoder) and net.decoder.views != 1:
        return None
    mods: list[tuple[object, ...]] = []
    norms: set[str] = set()
    for part in ("transfer", "decoder"):
        for name, m in getattr(net, part).named_modules(prefix=part):
            if type(m) in _CONTAINERS:
                mods.append((name, type(m).__name__))
                continue
            sig = _leaf_signature(m)
            if sig is None:
                return None
            if sig[0] in ("batch", "group"):
                norms.add(str(sig[0]))
            mods.append((name, type(m).__name__, *sig))
    if len(norms) > 1:
        return None
    params = tuple((n, tuple(p.shape), str(p.dtype), p.requires_grad)
                   for n, p in net.named_parameters() if not n.startswith("target."))
    buffers = tuple((n, tuple(b.shape), str(b.dtype)) for n, b in net.named_buffers() if not n.startswith("target."))
    norm = norms.pop() if norms else "none"
    return (type(net.decoder).__name__, net.views, norm, tuple(mods), params, buffers)


def _stacked_leaf(m: nn.Module, k: int) -> nn.Module:
    """A fresh K-fold version of a leaf (its tensors are filled in afterwards)."""
    if isinstance(m, nn.Conv2d):
        assert not isinstance(m.padding, str)  # refused by the signature
        return nn.Conv2d(k * m.in_channels, k * m.out_channels, _pair(m.kernel_size), stride=_pair(m.stride),
                         padding=_pair(m.padding), dilation=_pair(m.dilation), groups=k, bias=m.bias is not None)
    if isinstance(m, nn.BatchNorm2d):
        return nn.BatchNorm2d(k * m.num_features, eps=m.eps, momentum=m.momentum, affine=m.affine,
                              track_running_stats=m.track_running_stats)
    if isinstance(m, nn.GroupNorm):
        return nn.GroupNorm(k * m.num_groups, k * m.num_channels, eps=m.eps, affine=m.affine)
    if isinstance(m, nn.Linear):
        return GroupedLinear(k, m.in_features, m.out_features, bias=m.bias is not None)
    return copy.deepcopy(m)  # element-wise / layout layers: unchanged


def _pair(v: tuple[int, ...]) -> tuple[int, int]:
    return int(v[0]), int(v[1])


def join_tensors(parts: Sequence[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    """The stacked tensor of ``parts`` (one per member) with ``like``'s shape and layout.

    Concatenation along dim 0, a new leading member axis where ``like`` has one more dimension
    (grouped linear layers), a copy of the first part for scalars (``num_batches_tracked``).
    """
    if parts[0].dim() == 0:
        joined = parts[0]
    elif like.dim() == parts[0].dim() + 1:
        joined = torch.stack(list(parts))
    else:
        joined = torch.cat(list(parts))
    if joined.shape != like.shape:
        raise InvalidInputError(f"cannot stack tensors of shape {tuple(parts[0].shape)} into {tuple(like.shape)}")
    out = torch.empty_like(like)  # keeps like's strides (channels_last weights)
    out.copy_(joined)
    return out


def split_tensor(t: torch.Tensor, k: int, like: torch.Tensor) -> list[torch.Tensor]:
    """Member ``0..k-1``'s slices of a stacked tensor ``t`` (the inverse of :func:`join_tensors`)."""
    if like.dim() == 0:
        return [t] * k
    if t.dim() == like.dim() + 1:
        return list(t.unbind(0))
    return list(t.chunk(k, dim=0))


class StackedTransfer(nn.Module):
    """K transfer networks with equal :func:`stack_signature` as one module (see the module docstring).

    ``forward(x)``: ``x`` is ``(B, K*cin, h, w)``, the members' features side by side.
    """

    def __init__(self, members: Sequence[TransferNetwork]) -> None:
        super().__init__()
        if len(members) < 1:
            raise InvalidInputError("a stack needs at least one member")
        sig = stack_signature(members[0])
        if sig is None:
            raise InvalidInputError(f"transfer {members[0].task_name!r} cannot be stacked")
        if any(stack_signature(m) != sig for m in members[1:]):
            raise InvalidInputError("stacked transfers must have one architecture (equal stack signatures)")
        k = self.k = len(members)
        first = members[0]
        self.transfer = self._stacked(first.transfer, k)
        self.decoder = self._stacked(first.decoder, k)
        ref = next(iter(first.parameters()))
        self.to(ref.device)
        # Fill every tensor from the members (same names as theirs): exact copies.
        own = dict(self.named_parameters()) | dict(self.named_buffers())
        with torch.no_grad():
            for name, t in own.items():
                parts = [member_tensor(m, name) for m in members]
                self._set(name, join_tensors(parts, t))
        place(self, ref.device)
        self.train(first.training)

    @staticmethod
    def _stacked(module: nn.Module, k: int) -> nn.Module:
        out = copy.deepcopy(module)
        for name, m in list(out.named_modules()):
            if not name or type(m) in _CONTAINERS:
                continue
            parent_name, _, attr = name.rpartition(".")
            setattr(out.get_submodule(parent_name), attr, _stacked_leaf(m, k))
        for name, b in list(out.named_buffers()):  # own buffers of containers (feature standardisation)
            owner_name, _, attr = name.rpartition(".")
            owner = out.get_submodule(owner_name)
            if type(owner) in _CONTAINERS:
                owner._buffers[attr] = torch.empty((k * b.shape[0], *b.shape[1:]), dtype=b.dtype, device=b.device)
        return out

    def _set(self, name: str, value: torch.Tensor) -> None:
        owner_name, _, attr = name.rpartition(".")
        owner = self.get_submodule(owner_name)
        if attr in owner._parameters:
            old = owner._parameters[attr]
            assert old is not None
            owner._parameters[attr] = nn.Parameter(value, requires_grad=old.requires_grad)
        else:
            owner._buffers[attr] = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.decoder([self.transfer(x)])
        return out


def member_tensor(net: nn.Module, name: str) -> torch.Tensor:
    """The parameter or buffer of ``net`` under its qualified ``name``."""
    owner_name, _, attr = name.rpartition(".")
    t = getattr(net.get_submodule(owner_name), attr)
    assert isinstance(t, torch.Tensor)
    return t


@torch.no_grad()
def write_back(stacked: StackedTransfer, members: Sequence[TransferNetwork]) -> None:
    """Copy the stack's parameters and buffers into the K members (in place: their tensors stay the same objects)."""
    if len(members) != stacked.k:
        raise InvalidInputError(f"the stack has {stacked.k} members, got {len(members)} networks")
    for name, t in (dict(stacked.named_parameters()) | dict(stacked.named_buffers())).items():
        targets = [member_tensor(m, name) for m in members]
        for dst, src in zip(targets, split_tensor(t, stacked.k, targets[0]), strict=True):
            dst.copy_(src)


# -- optimiser state ---------------------------------------------------------------------------
# AdamW is elementwise, so a stack's AdamW whose state is its members' states joined the same way
# as their parameters takes exactly their steps; written back, the members continue alone.


def stacked_adamw(stacked: StackedTransfer, members: Sequence[TransferNetwork], opt: torch.optim.Optimizer, *,
                  group: Mapping[str, Any], lr: float) -> torch.optim.AdamW:
    """An AdamW over ``stacked``'s parameters whose state is the members' state in ``opt``, stacked.

    ``group``: the members' parameter group in ``opt`` (betas, eps, weight decay, amsgrad). Members
    that trained a different number of steps, or have unequal state, cannot be stacked (an
    AssertionError: the caller groups readouts by step count).
    """
    named = list(stacked.named_parameters())
    out = torch.optim.AdamW([p for _, p in named], lr=lr, betas=group["betas"], eps=group["eps"],
                            weight_decay=group["weight_decay"], amsgrad=group["amsgrad"])
    for name, sp in named:
        states = [opt.state.get(member_tensor(net, name)) for net in members]
        if not any(states):
            continue
        full = [s for s in states if s]
        if len(full) != len(states) or any(s.keys() != full[0].keys() for s in full):
            raise AssertionError(f"stacked readouts have unequal optimiser state for {name}")
        own: dict[str, torch.Tensor] = {}
        for key, v in full[0].items():
            if v.dim() == 0:  # the step count: equal for all members (they trained the same steps)
                if any(not torch.equal(s[key], v) for s in full):
                    raise AssertionError("stacked readouts have unequal optimiser steps")
                own[key] = v.clone()
            else:
                own[key] = join_tensors([s[key] for s in full], sp.detach())
        out.state[sp] = own
    return out


@torch.no_grad()
def write_back_optimizer_state(stacked: StackedTransfer, members: Sequence[TransferNetwork],
                               stack_opt: torch.optim.Optimizer, opt: torch.optim.Optimizer) -> None:
    """Copy ``stack_opt``'s state (see :func:`stacked_adamw`) into the members' state in ``opt``."""
    k = len(members)
    for name, sp in stacked.named_parameters():
        own = stack_opt.state.get(sp)
        if not own:
            continue
        params = [member_tensor(net, name) for net in members]
        for key, v in own.items():
            for p, part in zip(params, split_tensor(v, k, params[0] if v.dim() else v), strict=True):
                mine = opt.state[p]
                if v.dim() == 0:
                    mine[key] = v.clone()
                else:
                    dst = mine.get(key)
                    if dst is None:
                        dst = mine[key] = torch.empty_like(p)
                    dst.copy_(part)
