"""``plan_higher_order``: one target's higher-order source sets, from its first-order ranking.

The ``beam`` best first-order sources (ranked by :func:`rank_first_order`) are combined into every
set of 2 to ``max_order`` (:func:`taskonomy.selection.higher_order_candidates`); the executor then
extends the graph with their transfer jobs (:meth:`taskonomy.contract.JobGraph.expand`).
"""

from __future__ import annotations

import numpy as np

from taskonomy.contract import Job, PlanParams, transfer_job
from taskonomy.execution.artifacts import read_array
from taskonomy.execution.handlers._types import Progress
from taskonomy.selection import higher_order_candidates
from taskonomy.store import ArtifactStore
from taskonomy.tasks import candidate_kind


def rank_first_order(losses: np.ndarray) -> np.ndarray:
    """Order candidates by their mean pairwise win rate (best first).

    With ``L`` of shape (n_candidates, n_images), ``W[i, j]`` is the fraction of images where
    ``L[i] < L[j]``; the score of ``i`` is the mean of row ``i`` over ``j != i`` (a Borda count
    of the image-wise tournament the AHP later weighs). Ties keep the input order.
    """
    n = losses.shape[0]
    wins = (losses[:, None, :] < losses[None, :, :]).mean(axis=2)
    score = (wins.sum(axis=1)) / max(n - 1, 1)
    return np.argsort(-score, kind="stable")


def run(job: Job, store: ArtifactStore, progress: Progress) -> None:
    p = job.typed(PlanParams)
    fo = list(p.first_order)
    order = rank_first_order(np.stack([read_array(store, c.losses) for c in fo]))
    ranked = [fo[i].sources[0] for i in order]
    combos = [tuple(c) for c in higher_order_candidates(ranked[: p.beam], max_order=p.max_order)]
    out = []
    for sources in (c for c in combos if len(c) >= 2):
        tj = transfer_job(target=p.target, sources=sources, cand_kind="higher_order", feature_keys=p.feature_keys,
                          label_keys=p.label_keys, model=p.model, train=p.train, seed=p.seed, stage="higher_order")
        out.append({"sources": list(sources), "kind": candidate_kind(p.target, sources), "losses": tj.outputs[0]})
    store.put_json(p.output, {"target": p.target, "ranked": ranked, "candidates": [c["sources"] for c in out],
                              "higher_order": out})
