"""Transfer modes of a local run: one transfer per job (default), fused, or successive halving.

``fused`` and ``halving`` run the graph up to the cached features, then compute the outputs of
every first-order transfer job (first order, own encoder, ``random``) together and store them
under those jobs' own output keys; the rest of the graph (baselines, higher-order planning and
transfers, finalize, report) then runs unchanged — the executor skips jobs whose outputs exist.

* ``fused`` (:class:`~taskonomy.training.fused.FusedTransferTrainer`): all transfer jobs in one
  loop, on ``workers`` threads. The results equal one job per transfer (same seeds and batch
  order), so they are stored in the experiment's own artifact store and are interchangeable with
  per-job results.
* ``halving`` (:func:`~taskonomy.training.halving.successive_halving`): each target's candidates
  within ``budget`` of the full compute, ranked on the test split's per-image losses; LogME
  scores break ties. Eliminated candidates keep their last losses, which differ from full
  training: the run therefore uses its own store, ``<store>/halving``, so that its losses never
  stand in for fully trained ones.
"""

from __future__ import annotations

import time
from typing import Any

from taskonomy.affinity.proxies import ProxyCache, transfer_proxy
from taskonomy.errors import InvalidInputError
from taskonomy.pipeline.graph import build_graph
from taskonomy.pipeline.jobs import FusedTransfers, store_transfer
from taskonomy.pipeline.local import run_stages
from taskonomy.pipeline.spec import ExperimentSpec
from taskonomy.store import ArtifactStore

MODES: tuple[str, ...] = ("per-job", "fused", "halving")
_PRE_STAGES = ("render", "train", "features")


def mode_store(store: ArtifactStore, mode: str) -> ArtifactStore:
    """The store a mode writes to: the experiment's, or ``<store>/halving`` for successive halving."""
    if mode not in MODES:
        raise InvalidInputError(f"unknown transfer mode {mode!r}; known: {', '.join(MODES)}")
    if mode == "halving":
        return ArtifactStore(store.url.rstrip("/") + "/halving")
    return store


def prefill_transfers(spec: ExperimentSpec, store: ArtifactStore, *, mode: str, workers: int = 1,
                      budget: float = 0.25, show_progress: bool = False, processes: int = 1) -> dict[str, Any]:
    """Run render/train/features (their network jobs in ``processes`` processes, see
    :class:`~taskonomy.pipeline.local.LocalExecutor`), then every first-order transfer job's output
    at once with ``workers`` threads (see module)."""
    from taskonomy.training.halving import successive_halving  # torch: only when a mode runs

    if mode not in ("fused", "halving"):
        raise InvalidInputError(f"prefill_transfers: mode must be fused or halving, got {mode!r}")
    graph = build_graph(spec)
    t0 = time.perf_counter()
    run_stages(graph, store, _PRE_STAGES, show_progress=show_progress, workers=processes)
    # every first-order transfer job's params (grouped ones too, for transfer_jobs: per-source)
    params = [p for j in graph.jobs.values() if j.kind in ("transfer", "transfer_group")
              for p in (j.params["members"] if j.kind == "transfer_group" else [j.params])]
    todo = [p for p in params if not store.exists(p["output"])]
    info: dict[str, Any] = {"mode": mode, "transfers": len(todo), "features_seconds": time.perf_counter() - t0}
    if not todo:
        return info
    fused = FusedTransfers(todo, store, workers=workers)
    trainer, evaluate = fused.trainer, fused.evaluate
    t1 = time.perf_counter()
    try:
        nets: list[Any] = []
        if mode == "fused":
            nets = trainer.run()
            losses = [evaluate(i) for i in range(len(todo))]
            steps = [trainer.total] * len(todo)
        else:
            groups: dict[str, list[int]] = {}
            for i, p in enumerate(todo):
                groups.setdefault(p["target"], []).append(i)
            proxy_cache = ProxyCache()
            prior = [transfer_proxy(r.target, r.features, r.data, cache=proxy_cache) for r in fused.readouts]
            res = successive_halving(trainer, groups, evaluate, budget=budget, prior=prior, seed=int(todo[0]["seed"]))
            losses = list(res.losses)
            steps = [int(s) for s in res.steps]
            info.update(compute_fraction=res.compute_fraction, rungs=res.rungs, eta=res.eta)
    finally:
        trainer.close()
    for i, (p, loss, n_steps) in enumerate(zip(todo, losses, steps, strict=True)):
        # fully trained (fused): the weights go to the model bank as a per-job run's do
        store_transfer(store, p, nets[i] if nets else None, loss, mode=mode, steps=n_steps)
    info["transfer_seconds"] = time.perf_counter() - t1
    return info
