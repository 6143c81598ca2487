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
from collections.abc import Mapping
from typing import Any

import numpy as np

from taskonomy.errors import InvalidInputError
from taskonomy.pipeline.graph import build_graph
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
                      budget: float = 0.25, show_progress: bool = False) -> dict[str, Any]:
    """Run render/train/features, then every first-order transfer job's output at once (see module)."""
    from taskonomy.affinity.proxies import ProxyCache, transfer_proxy
    from taskonomy.pipeline.jobs import ARRAY, StoredArrays, _model, _task, _train_config
    from taskonomy.training.fused import FusedTransferTrainer, Readout
    from taskonomy.training.halving import successive_halving

    if mode not in ("fused", "halving"):
        raise InvalidInputError(f"prefill_transfers: mode must be fused or halving, got {mode!r}")
    graph = build_graph(spec)
    t0 = time.perf_counter()
    run_stages(graph, store, _PRE_STAGES, show_progress=show_progress)
    todo = [j for j in graph.jobs.values() if j.kind == "transfer" and not store.exists(j.outputs[0])]
    info: dict[str, Any] = {"mode": mode, "transfers": len(todo), "features_seconds": time.perf_counter() - t0}
    if not todo:
        return info
    arr = StoredArrays(store)

    def feats(p: Mapping[str, Any], split: str) -> list[dict[str, np.ndarray]]:
        return [arr.features(p["features"][s][split]) for s in p["sources"]]

    # One trainer per (model, train config, seed): the jobs of one experiment share them.
    p0 = todo[0].params
    if any(j.params["model"] != p0["model"] or j.params["train"] != p0["train"] or j.params["seed"] != p0["seed"]
           for j in todo):
        raise InvalidInputError("transfer jobs of one experiment disagree in model, training or seed")
    model, train = _model(p0["model"]), _train_config(p0["train"], p0["seed"])
    targets = [_task(j.params["target"]) for j in todo]
    labels = [{t.target: arr(j.params["labels"]["transfer"])} for t, j in zip(targets, todo, strict=True)]
    readouts = [Readout(t, feats(j.params, "transfer"), lab) for t, j, lab in zip(targets, todo, labels, strict=True)]
    trainer = FusedTransferTrainer(readouts, model=model, train=train, workers=workers)

    def evaluate(i: int) -> np.ndarray:
        j, t = todo[i], targets[i]
        return trainer.evaluate(i, feats(j.params, "test"), {t.target: arr(j.params["labels"]["test"])})

    t1 = time.perf_counter()
    try:
        if mode == "fused":
            trainer.run()
            losses = [evaluate(i) for i in range(len(todo))]
            steps = [trainer.total] * len(todo)
        else:
            groups: dict[str, list[int]] = {}
            for i, j in enumerate(todo):
                groups.setdefault(j.params["target"], []).append(i)
            proxy_cache = ProxyCache()
            prior = [transfer_proxy(t, r.features, r.data, cache=proxy_cache)
                     for t, r in zip(targets, readouts, strict=True)]
            res = successive_halving(trainer, groups, evaluate, budget=budget, prior=prior, seed=int(p0["seed"]))
            losses = list(res.losses)
            steps = [int(s) for s in res.steps]
            info.update(compute_fraction=res.compute_fraction, rungs=res.rungs, eta=res.eta)
    finally:
        trainer.close()
    for j, loss, n_steps in zip(todo, losses, steps, strict=True):
        store.put_tensors(j.outputs[0], {ARRAY: np.asarray(loss, dtype=np.float64)},
                          metadata={"target": j.params["target"], "sources": list(j.params["sources"]),
                                    "kind": j.params["candidate_kind"], "mode": mode, "steps": n_steps})
    info["transfer_seconds"] = time.perf_counter() - t1
    return info
