"""``transfer_halving``: every first-order transfer, each target's candidates ranked by successive
halving (:func:`~taskonomy.training.halving.successive_halving`) within a share of full training's
compute; LogME scores break ties. Eliminated candidates keep their last losses, which differ from
full training: their keys name the estimate (``affinity.estimate: halving``), so they never stand
in for fully trained ones."""

from __future__ import annotations

from taskonomy.affinity.transfer_proxies import ProxyCache, transfer_proxy
from taskonomy.contract import Job, TransferHalvingParams
from taskonomy.execution.handlers._types import Progress
from taskonomy.execution.handlers.transfer import FusedTransfers, fused_threads, store_transfer
from taskonomy.store import ArtifactStore


def run(job: Job, store: ArtifactStore, progress: Progress) -> None:
    from taskonomy.training.halving import successive_halving  # torch: when the job runs

    p = job.typed(TransferHalvingParams)
    todo = [m for m in p.members if not store.exists(m.output)]
    if not todo:
        return
    fused = FusedTransfers(todo, store, workers=fused_threads())
    try:
        groups: dict[str, list[int]] = {}
        for i, m in enumerate(todo):
            groups.setdefault(m.target, []).append(i)
        cache = ProxyCache()
        prior = [transfer_proxy(r.target, r.features, r.data, cache=cache) for r in fused.readouts]
        res = successive_halving(fused.trainer, groups, fused.evaluate, budget=p.budget, prior=prior,
                                 seed=todo[0].seed)
    finally:
        fused.trainer.close()
    for m, loss, steps in zip(todo, res.losses, res.steps, strict=True):
        store_transfer(store, m, None, loss, mode="halving", steps=int(steps), compute_fraction=res.compute_fraction)
