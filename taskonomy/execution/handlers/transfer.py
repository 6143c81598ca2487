"""``transfer``: one transfer ``sources -> target`` trained on the transfer split's cached features,
evaluated on the test split; and the fused trainer that several transfers share."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from taskonomy.contract import Job, TransferParams, transfer_weights_key
from taskonomy.errors import InvalidInputError
from taskonomy.execution.artifacts import StoredArrays, read_array, read_arrays, store_network, write_array
from taskonomy.execution.handlers._types import Progress
from taskonomy.store import ArtifactStore
from taskonomy.tasks import get_task


def run(job: Job, store: ArtifactStore, progress: Progress) -> None:
    from taskonomy.training import evaluate_transfer, train_transfer  # torch: when the job runs

    p = job.typed(TransferParams)
    target = get_task(p.target)

    def split(name: str) -> tuple[list[dict[str, np.ndarray]], dict[str, np.ndarray]]:
        feats = [read_arrays(store, p.features[s][name]) for s in p.sources]
        return feats, {target.target: read_array(store, p.labels[name])}

    feats, data = split("transfer")
    net = train_transfer(target, feats, data, model=p.model, train=p.train_config(),
                         progress=progress)
    tfeats, tdata = split("test")
    store_transfer(store, p, net, evaluate_transfer(target, net, tfeats, tdata, model=p.model))


def store_transfer(store: ArtifactStore, p: TransferParams, net: Any | None, losses: np.ndarray,
                   **metadata: Any) -> None:
    """A transfer's per-test-image losses, and the trained network's weights for the model bank
    (``net`` None: a partly trained one, e.g. stopped by successive halving, is not kept)."""
    if net is not None:
        store_network(store, transfer_weights_key(p.output), net)
    write_array(store, p.output, np.asarray(losses, dtype=np.float64), target=p.target, sources=list(p.sources),
                kind=p.candidate_kind, **metadata)


def fused_threads() -> int:
    """Threads of a fused trainer: the torch threads this process may use."""
    import torch

    return max(1, min(torch.get_num_threads(), os.cpu_count() or 1))


class FusedTransfers:
    """Transfers ``params`` (one model, training config and seed) in one fused trainer.

    ``trainer`` is a :class:`~taskonomy.training.fused.FusedTransferTrainer` over their readouts
    (features and labels read from the store once each); :meth:`evaluate` gives readout ``i``'s
    per-test-image losses. Used by the ``transfer_group`` and ``transfer_halving`` jobs.
    """

    def __init__(self, params: Sequence[TransferParams], store: ArtifactStore, *, workers: int = 1) -> None:
        from taskonomy.training.fused import FusedTransferTrainer, Readout  # torch: when the job runs

        if not params:
            raise InvalidInputError("no transfer jobs to train together")
        p0 = params[0]
        if any(p.model != p0.model or p.train != p0.train or p.seed != p0.seed for p in params):
            raise InvalidInputError("transfer jobs trained together must agree in model, training and seed")
        self.params = list(params)
        self.arrays = StoredArrays(store)
        self.targets = [get_task(p.target) for p in params]
        self.readouts = [Readout(t, self.features(p, "transfer"), {t.target: self.arrays(p.labels["transfer"])})
                         for t, p in zip(self.targets, params, strict=True)]
        self.trainer = FusedTransferTrainer(self.readouts, model=p0.model,
                                            train=p0.train_config(), workers=workers)

    def features(self, p: TransferParams, split: str) -> list[dict[str, np.ndarray]]:
        return [self.arrays.features(p.features[s][split]) for s in p.sources]

    def evaluate(self, i: int) -> np.ndarray:
        p, t = self.params[i], self.targets[i]
        return self.trainer.evaluate(i, self.features(p, "test"), {t.target: self.arrays(p.labels["test"])})
