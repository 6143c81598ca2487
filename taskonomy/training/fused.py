"""Fused transfer training: many readouts over cached features in one optimisation loop.

Every transfer of an experiment reads frozen, cached representations and has its own
parameters. Training the transfers that share a transfer split together — typically every
target (and baseline) reading one source — in one pass changes nothing about each result:

* parameters are disjoint, so the gradient of ``Σ_i L_i`` with respect to readout ``i``'s
  parameters is exactly ``∇ L_i``;
* one AdamW with one parameter group per readout equals separate AdamWs: Adam(W) is
  elementwise, its step count is per parameter, and decoupled weight decay is per parameter
  too (there is no gradient clipping, which would couple parameters);
* the batch order comes from the same seeded generator as :func:`taskonomy.training._loop.fit`
  (``seed + 1``); a readout with a stochastic loss (metric embedding pixel sampling) draws its
  batch order and pixels from a private generator, interleaved as its separate run would, and
  gathers its own batches; initialisation is ``seeded(train.seed)`` per readout,
  exactly as in :func:`taskonomy.training.train_transfer`.

So a readout of :class:`FusedTransferTrainer` trained for all its steps equals
``train_transfer`` with the same seeds, within float tolerance (a test checks it). What is
shared is the work around the arithmetic: one batch gather per source instead of one per
readout, one optimiser step over every readout at one learning rate, and epoch losses summed on
the device (no read-back per step) — the per-step overhead that dominates small readouts. With
``workers > 1`` the units of a step (single readouts and stacks, below) run concurrently on that
many threads (one forward and backward each; torch releases the GIL in its kernels): on a CPU,
where one readout's small convolutions cannot use several cores well, this is where most of the
gain over one transfer per job comes from.

*Stacked readouts* (``stack=True``, the default): readouts of one architecture — equal
:func:`~taskonomy.training.stacked.stack_signature` (single-view, dense or global decoder),
equal step counts, one deterministic loss and one target layout — are trained as one
:class:`~taskonomy.training.stacked.StackedTransfer` per :meth:`FusedTransferTrainer.advance`
call: their feature batches side by side on the channel axis, every convolution grouped (one
group per readout), norms over K times the channels, linear layers as one batched matmul. The
stack computes exactly the members' functions (per-channel BN statistics, per-group GroupNorm,
member blocks kept contiguous), its loss is the sum of the members' mean losses (computed
in one call: the (B, K·C, …) output read as B·K member outputs against the members' targets),
and its AdamW — built from the members' AdamW state, stepped at the
schedule's learning rate — is elementwise like theirs; at the end of the call parameters,
buffers and optimiser state are written back into the members. So stacking changes only the
rounding, not the result. What it saves is per-layer work: one kernel per layer for K readouts
(on a GPU one launch instead of K; on a CPU bf16 convolutions run faster grouped), and per-member
work around it: a step gathers a stack's inputs and targets with two indexed reads each (the
distinct feature and target tensors are joined once per call) and computes one loss. Metric
embedding readouts (private pixel draws), multi-view readouts and any readout without a partner
train on their own as before ("singles"). A stack holds at most ``max_stack`` readouts (8 on a
CPU by default: grouped convolutions with many groups get slower per group there); with
``workers > 1`` a set is split into enough stacks to fill the worker threads evenly.

The trainer is also *resumable and maskable*: :meth:`FusedTransferTrainer.advance` trains only
an active subset for some steps. Successive halving (:mod:`taskonomy.training.halving`) uses
this to stop candidates early: a stopped readout's parameters and optimiser state are simply
left alone (AdamW skips parameters without a gradient), and survivors follow the same
trajectory as full training.

FLOPs: :func:`readout_step_flops` counts one training step (forward + backward) of a readout
with ``torch.utils.flop_counter`` (matmuls and convolutions).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from taskonomy.contract.config import TrainConfig
from taskonomy.errors import InvalidInputError
from taskonomy.nets import ModelConfig, TransferNetwork, build_transfer, seeded
from taskonomy.nets.decoders import check_decodable
from taskonomy.tasks import TaskSpec
from taskonomy.training._loop import Progress, _batch, test_losses, total_steps
from taskonomy.training.arrays import fit_target_norm, target_tensor
from taskonomy.training.artifacts import TrainedNetwork
from taskonomy.training.device import autocast, memory_format, place, resolve_device
from taskonomy.training.losses import metric_embedding_per_image, per_image_loss
from taskonomy.training.stacked import (
    StackedTransfer,
    stack_signature,
    stacked_adamw,
    write_back,
    write_back_optimizer_state,
)
from taskonomy.training.task import EVAL_BATCH, cpu_state
from taskonomy.training.transfer import _feature_stats, feature_tensors

__all__ = ["FusedTransferTrainer", "Readout", "readout_step_flops", "train_transfers_fused"]

#: Default largest stack on a CPU (measured: the per-readout cost of a grouped step rises past ~9
#: groups on a CPU core) and on other devices (where one launch for many readouts is the gain).
_CPU_MAX_STACK = 8
_MAX_STACK = 64

#: Floor of the cosine schedule, as a fraction of the peak learning rate (same as ``fit``).
_LR_FLOOR = 0.05


@dataclass(frozen=True)
class Readout:
    """One transfer to train: ``sources``' cached features → ``target`` on the transfer split.

    ``features``: one mapping (target input key → (N, r, h, h)) per source; ``data``: the
    split's ground truth under ``target.target``. Readouts whose feature mappings are the *same
    objects* share one batch gather per step.
    """

    target: TaskSpec
    features: Sequence[Mapping[str, np.ndarray]]
    data: Mapping[str, np.ndarray]
    name: str = ""


class _State:
    def __init__(self, readout: Readout, net: TransferNetwork, views: list[torch.Tensor], y: torch.Tensor,
                 view_key: tuple[object, ...]) -> None:
        self.readout = readout
        self.net = net
        self.views = views
        self.y = y
        self.view_key = view_key
        self.gen: torch.Generator | None = None
        self.signature = stack_signature(net)
        self.perm: torch.Tensor | None = None
        self.steps = 0
        #: Sum of the last epoch's batch losses × batch sizes, kept on the device: reading a loss
        #: back every step would wait for the device once per readout per step.
        self.last_sum = torch.zeros((), device=y.device)
        self.last_count = 0


@dataclass
class _Stack:
    """A stack being trained: its module and AdamW, and its members' inputs gathered in one go.

    ``x``: the distinct feature tensors of the members side by side on the channel axis, and
    ``channels``: which of those channels, in member order, make the stack's input. ``y``: the
    distinct target tensors stacked on axis 1, and ``targets``: which one is each member's. So
    a step's inputs are two gathers for the whole stack, not two per member. ``loss_sum``: the
    members' summed epoch losses, kept on the device (one update per step for the stack).
    """

    members: list[int]
    module: StackedTransfer
    opt: torch.optim.AdamW
    x: torch.Tensor
    channels: torch.Tensor
    y: torch.Tensor
    targets: torch.Tensor
    loss: str
    loss_sum: torch.Tensor


class FusedTransferTrainer:
    """Train many transfers in one loop over shared batches (see the module docstring).

    All readouts must have the same number of transfer images (one batch order for all).
    ``stack``: train readouts of one architecture as stacks (see the module docstring); off,
    every readout runs on its own (the results agree within float rounding). ``None`` (the
    default) stacks where it pays: on CUDA and in bf16 (measured on a 2-core CPU, quick transfer
    benchmark: 1.35× over one transfer per job in bf16, but 0.9× of unstacked in fp32, where
    oneDNN's grouped convolutions are no faster per group than separate ones). ``max_stack``:
    most readouts per stack (default 8 on a CPU, where grouped convolutions with many groups
    get slower per group, and 64 elsewhere); larger sets are split into balanced stacks.
    """

    def __init__(self, readouts: Sequence[Readout], *, model: ModelConfig, train: TrainConfig,
                 workers: int = 1, stack: bool | None = None, max_stack: int | None = None) -> None:
        if not readouts:
            raise InvalidInputError("at least one readout is needed")
        if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
            raise InvalidInputError(f"workers must be an integer in 1..64, got {workers!r}")
        self.workers = workers
        self.device = resolve_device(train.device)
        if stack is None:
            stack = self.device.type == "cuda" or train.precision == "bf16"
        self.stack = stack
        if max_stack is None:
            max_stack = _CPU_MAX_STACK if self.device.type == "cpu" else _MAX_STACK
        if isinstance(max_stack, bool) or not isinstance(max_stack, int) or max_stack < 1:
            raise InvalidInputError(f"max_stack must be a positive integer, got {max_stack!r}")
        self.max_stack = max_stack
        self._pool: ThreadPoolExecutor | None = None
        self.model = model
        self.train = train
        cache: dict[tuple[object, ...], tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]] = {}
        targets: dict[tuple[object, ...], torch.Tensor] = {}  # raw and normalised target tensors by label array
        normed: dict[tuple[object, ...], torch.Tensor] = {}
        self.states: list[_State] = []
        self.size = 0
        n_all: set[int] = set()
        for r in readouts:
            check_decodable(r.target)
            # Features are concatenated per readout (its sources, in order); readouts with the
            # same source objects and input keys share the tensors, their statistics and batches.
            key: tuple[object, ...] = (*(id(f) for f in r.features), r.target.inputs)
            if key not in cache:
                views, n, size = feature_tensors(r.target, r.features, model=model, device=self.device)
                cache[key] = (views, *_feature_stats(views))
            views, mean, std = cache[key]
            n, size = int(views[0].shape[0]), int(views[0].shape[2]) * model.stride
            n_all.add(n)
            self.size = size
            # Readouts of one target on the same label array share one target tensor (and so one
            # gather per step in a stack): its normalisation is a function of the labels alone.
            y_key = (id(r.data.get(r.target.target)), r.target.name, n, size)
            y_raw = targets.get(y_key)
            if y_raw is None:
                y_raw = targets[y_key] = target_tensor(r.target, r.data, n=n, size=size, device=self.device)
            with seeded(train.seed):
                net = build_transfer(r.target, len(r.features), model, size=size)
            net.transfer.mean.copy_(mean)
            net.transfer.std.copy_(std)
            place(net, self.device)
            y = normed.setdefault(y_key, fit_target_norm(net.target, r.target, y_raw))
            st = _State(r, net, views, y, key)
            if r.target.loss == "metric_embedding":
                st.gen = torch.Generator().manual_seed(train.seed + 1)
            self.states.append(st)
        if len(n_all) != 1:
            raise InvalidInputError(f"fused readouts must share one transfer split size, got sizes {sorted(n_all)}")
        self.n = n_all.pop()
        self.total = total_steps(self.n, train)
        self.gen = torch.Generator().manual_seed(train.seed + 1)
        groups = [{"params": list(st.net.parameters())} for st in self.states]
        self.opt = torch.optim.AdamW(groups, lr=train.lr, weight_decay=train.weight_decay)
        self.step = 0
        self.epoch = 0
        self._perm: torch.Tensor | None = None
        self._lo = 0
        for st in self.states:
            st.net.train()

    # -- the loop -----------------------------------------------------------------------------

    def _next_indices(self) -> torch.Tensor:
        if self._perm is None or self._lo >= self.n:
            # On the device once per epoch: a copy from host memory per step would wait for the device.
            self._perm = torch.randperm(self.n, generator=self.gen).to(self.device)
            for st in self.states:
                if st.gen is not None:  # its own order, as its separate run would draw it
                    st.perm = torch.randperm(self.n, generator=st.gen).to(self.device)
            self._lo = 0
            self.epoch += 1
        idx = self._perm[self._lo : self._lo + self.train.batch_size]
        self._lo += self.train.batch_size
        return idx

    def advance(self, steps: int, *, active: Sequence[int] | None = None, progress: Progress | None = None) -> int:
        """Train the ``active`` readouts (indices; all by default) for up to ``steps`` more steps.

        Every call consumes batches in the one global order; readouts outside ``active`` do not
        change. Returns the steps taken (fewer once the schedule's total is reached).
        """
        act = list(range(len(self.states))) if active is None else sorted(set(active))
        if any(not 0 <= i < len(self.states) for i in act):
            raise InvalidInputError(f"active readouts must be indices in [0, {len(self.states)})")
        groups, singles = self._partition(act)
        stacks: list[_Stack] = []
        try:
            for members in groups:
                stacks.append(self._build_stack(members))
            return self._advance(steps, act, singles, stacks, progress)
        finally:
            for stack in stacks:  # the members (and their AdamW state) carry the trained values from here on
                self._unstack(stack)

    def _partition(self, act: list[int]) -> tuple[list[list[int]], list[int]]:
        """Stacks (≥ 2 readouts with one architecture, one step count and a deterministic loss) and singles."""
        if not self.stack:
            return [], list(act)
        by_key: dict[tuple[object, ...], list[int]] = {}
        singles: list[int] = []
        for i in act:
            st = self.states[i]
            if st.signature is None or st.gen is not None:
                singles.append(i)
            else:
                # one loss over the whole stack's output needs one loss and one target layout
                key = (st.signature, st.steps, st.readout.target.loss, tuple(st.y.shape[1:]), st.y.dtype)
                by_key.setdefault(key, []).append(i)
        groups = []
        for same in by_key.values():
            parts = math.ceil(len(same) / self.max_stack)  # balanced stacks of at most max_stack readouts,
            if self.workers > 1:  # as many as fill the worker threads evenly, where that leaves pairs at least
                parts = max(parts, min(math.ceil(parts / self.workers) * self.workers, len(same) // 2))
            for j in range(parts):
                members = same[j * len(same) // parts : (j + 1) * len(same) // parts]
                if len(members) >= 2:
                    groups.append(members)
                else:
                    singles.extend(members)
        return groups, sorted(singles)

    def _advance(self, steps: int, act: list[int], singles: list[int], stacks: list[_Stack],
                 progress: Progress | None) -> int:
        taken = 0
        while taken < steps and self.step < self.total:
            idx = self._next_indices()
            first = self._lo == self.train.batch_size  # the first batch of an epoch
            batches: dict[tuple[object, ...], list[torch.Tensor]] = {}
            units: list[Callable[[], torch.Tensor]] = []
            for i in singles:
                xs, y = self._inputs(i, idx, batches)
                units.append(functools.partial(self._loss, i, xs, y))
            units.extend(functools.partial(self._stack_unit, stack, idx) for stack in stacks)
            self.opt.zero_grad(set_to_none=True)
            for stack in stacks:
                stack.opt.zero_grad(set_to_none=True)
            # Disjoint graphs: one forward and backward per unit (a single readout, or a stack of
            # readouts as one module), units spread over threads when there are several (torch
            # releases the GIL in its kernels); the optimisers step once every unit is done.
            if self.workers > 1 and len(units) > 1:
                done = list(self._executor().map(lambda unit: unit(), units))
            else:
                done = [unit() for unit in units]
            lr = self._lr()
            if singles:  # (parameters without a gradient, e.g. the stacks' members, are skipped)
                for i in singles:
                    self.opt.param_groups[i]["lr"] = lr
                self.opt.step()
            for stack in stacks:
                for group in stack.opt.param_groups:
                    group["lr"] = lr
                stack.opt.step()
            self.step += 1
            taken += 1
            # Epoch losses stay on the device (reading one back would wait for the device).
            for i, loss in zip(singles, done[: len(singles)], strict=True):
                st = self.states[i]
                st.last_sum = (0 if first else st.last_sum) + loss.detach() * idx.numel()
            for stack, loss in zip(stacks, done[len(singles):], strict=True):
                stack.loss_sum = (0 if first else stack.loss_sum) + loss.detach() * idx.numel()
            for i in act:
                st = self.states[i]
                st.last_count = (0 if first else st.last_count) + idx.numel()
                st.steps += 1
            if progress is not None:
                progress(self.step, self.total)
        return taken

    def _lr(self) -> float:
        """The learning rate of the current step: ``fit``'s cosine schedule (as its LambdaLR computes it)."""
        steps = self.total
        return self.train.lr * (
            _LR_FLOOR + (1 - _LR_FLOOR) * 0.5 * (1 + math.cos(math.pi * min(self.step, steps) / max(steps, 1))))

    def _inputs(self, i: int, idx: torch.Tensor,
                batches: dict[tuple[object, ...], list[torch.Tensor]]) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Readout ``i``'s batch: shared per source (``batches`` caches it by view key) or its own order."""
        st = self.states[i]
        if st.perm is not None:  # a stochastic loss: private batch order and pixel draws
            own = st.perm[self._lo - self.train.batch_size : self._lo]
            return _batch(st.views, own, self.device), st.y.index_select(0, own)
        if st.view_key not in batches:
            batches[st.view_key] = _batch(st.views, idx, self.device)
        return batches[st.view_key], st.y.index_select(0, idx)

    def _stack_unit(self, stack: _Stack, idx: torch.Tensor) -> torch.Tensor:
        """The stack's members' mean losses (K,) on a batch, back-propagated as one sum.

        The stack's output (B, K·C, …) is read as K·B member outputs (B·K, C, …) against the
        members' targets (B, K, …) → (B·K, …): one loss call for the stack, the same per-image
        losses as K separate calls.
        """
        x = stack.x.index_select(0, idx).index_select(1, stack.channels)
        x = x.contiguous(memory_format=memory_format(self.device))
        y = stack.y.index_select(0, idx).index_select(1, stack.targets)
        b, k = int(idx.numel()), len(stack.members)
        with autocast(self.device, self.train.precision):
            pred = stack.module(x)
        pred = pred.float().reshape(b * k, -1, *pred.shape[2:])
        per_image = per_image_loss(stack.loss, pred, y.reshape(b * k, *y.shape[2:])).view(b, k)
        losses = per_image.mean(dim=0)
        losses.sum().backward()
        return losses

    def _build_stack(self, members: list[int]) -> _Stack:
        """A :class:`StackedTransfer` of ``members`` and an AdamW whose state is theirs, stacked."""
        nets = [self.states[i].net for i in members]
        module = StackedTransfer(nets)
        opt = stacked_adamw(module, nets, self.opt, group=self.opt.param_groups[members[0]], lr=self._lr())
        # The members' inputs, each distinct tensor once: features side by side on the channel
        # axis with each member's channels picked by index, targets stacked on a new axis 1.
        mine = [self.states[i] for i in members]
        feats = list({id(st.views[0]): st.views[0] for st in mine}.values())
        ys = list({id(st.y): st.y for st in mine}.values())
        c = int(feats[0].shape[1])
        first = {id(f): j * c for j, f in enumerate(feats)}
        channels = torch.tensor([first[id(st.views[0])] + ch for st in mine for ch in range(c)],
                                device=self.device)
        which = {id(y): j for j, y in enumerate(ys)}
        targets = torch.tensor([which[id(st.y)] for st in mine], device=self.device)
        loss_sum = torch.stack([torch.as_tensor(st.last_sum, device=self.device, dtype=torch.float32)
                                for st in mine])
        return _Stack(members, module, opt, x=torch.cat(feats, dim=1), channels=channels, y=torch.stack(ys, dim=1),
                      targets=targets, loss=mine[0].readout.target.loss, loss_sum=loss_sum)

    def _unstack(self, stack: _Stack) -> None:
        """Parameters, buffers and AdamW state of a stack back into its members."""
        nets = [self.states[i].net for i in stack.members]
        write_back(stack.module, nets)
        write_back_optimizer_state(stack.module, nets, stack.opt, self.opt)
        for j, i in enumerate(stack.members):
            self.states[i].last_sum = stack.loss_sum[j].clone()

    def _loss(self, i: int, xs: list[torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        """Readout ``i``'s mean training loss on a batch, back-propagated into its gradients."""
        st = self.states[i]
        with autocast(self.device, self.train.precision):
            pred = st.net(xs).float()
        if st.readout.target.loss == "metric_embedding":
            li = metric_embedding_per_image(pred, y, max_pixels=self.train.embed_pixels, generator=st.gen).mean()
        else:
            li = per_image_loss(st.readout.target.loss, pred, y).mean()
        li.backward()
        return li

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="fused-readouts")
        return self._pool

    def close(self) -> None:
        """Stop the worker threads (if any); training can still continue afterwards."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def run(self, *, progress: Progress | None = None) -> list[TrainedNetwork]:
        """Train every readout to the end of the schedule; the trained networks in readout order."""
        self.advance(self.total - self.step, progress=progress)
        return self.results()

    # -- results ------------------------------------------------------------------------------

    def results(self) -> list[TrainedNetwork]:
        """The networks as they are now (``metrics['steps']`` = the steps each one trained)."""
        out = []
        for st in self.states:
            st.net.eval()
            metrics = {"train_loss": float(st.last_sum) / max(st.last_count, 1), "steps": float(st.steps),
                       "epochs": float(self.epoch), "n_train": float(self.n)}
            out.append(TrainedNetwork(task=st.readout.target.name, state=cpu_state(st.net), metrics=metrics,
                                      kind="transfer", n_sources=len(st.readout.features), size=self.size,
                                      model=self.model.to_dict()))
            st.net.train()
        return out

    def evaluate(self, i: int, features: Sequence[Mapping[str, np.ndarray]], data: Mapping[str, np.ndarray], *,
                 batch_size: int = EVAL_BATCH) -> np.ndarray:
        """Per-image test losses (N,) of readout ``i`` on another split (as ``evaluate_transfer``)."""
        st = self.states[i]
        target = st.readout.target
        views, n, size = feature_tensors(target, features, model=self.model, device=self.device)
        y = target_tensor(target, data, n=n, size=size, device=self.device)
        try:
            return test_losses(st.net, views, y, task=target, device=self.device, batch_size=batch_size)
        finally:
            st.net.train()


def train_transfers_fused(readouts: Sequence[Readout], *, model: ModelConfig, train: TrainConfig,
                          progress: Progress | None = None, workers: int = 1) -> list[TrainedNetwork]:
    """Train every readout fully in one fused loop; equals ``train_transfer`` per readout."""
    trainer = FusedTransferTrainer(readouts, model=model, train=train, workers=workers)
    try:
        return trainer.run(progress=progress)
    finally:
        trainer.close()


def readout_step_flops(target: TaskSpec, *, n_sources: int = 1, model: ModelConfig, size: int,
                       batch_size: int) -> int:
    """FLOPs of one training step (forward + backward) of a transfer readout at ``batch_size``.

    Counted by ``torch.utils.flop_counter.FlopCounterMode`` (2 FLOPs per multiply-add of the
    matmuls and convolutions; normalisation and element-wise work are not counted).
    """
    from torch.utils.flop_counter import FlopCounterMode

    with seeded(0):
        net = build_transfer(target, n_sources, model, size=size)
    h = size // model.stride
    xs = [torch.randn(batch_size, n_sources * model.rep_channels, h, h) for _ in target.inputs]
    counter = FlopCounterMode(display=False)
    with counter:
        out = net(xs)
        out.float().square().mean().backward()
    return int(counter.get_total_flops())
