"""``finalize``: per-image losses → AHP per target → the transfer table → the taxonomy.

Per target ``t`` one AHP tournament covers all its candidates together (first order, higher
order, ``self``, ``own``, ``random``), as the paper's did (affinities sum to 1 per target);
``pixels`` joins only as the reference of the gain (win rate against ``pixels``) and is not a
candidate. The stacked losses (candidates + pixels, one row each) are stored as an artifact so
anyone can recompute the affinities from them.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from taskonomy.affinity import TransferRow, TransferTable, target_affinity
from taskonomy.contract import Candidate, FinalizeParams, Job
from taskonomy.execution.artifacts import read_losses
from taskonomy.execution.handlers._types import Progress
from taskonomy.selection import solve_experiment
from taskonomy.store import ArtifactStore
from taskonomy.tasks import SELF


def run(job: Job, store: ArtifactStore, progress: Progress) -> None:
    finalize(job.typed(FinalizeParams), store)


def target_candidates(params: FinalizeParams, store: ArtifactStore, target: str) -> list[Candidate]:
    """The static candidates of ``target`` plus the higher-order ones its plan chose."""
    cands = list(params.candidates[target])
    plan_key = params.plans.get(target)
    if plan_key:
        plan = store.get_json(plan_key)
        cands += [Candidate.model_validate(c) for c in plan.get("higher_order", [])]
    return cands


def table_sources(cand: Candidate) -> tuple[str, ...]:
    """How the paper tables write a candidate's ``sources`` (``self`` for full supervision)."""
    if cand.kind == "self_full_supervision":
        return (SELF,)
    return tuple(cand.sources)


def finalize(params: FinalizeParams, store: ArtifactStore) -> None:
    """AHP per target over its candidates' stacked losses, then the table, the taxonomy and the summary."""
    outputs = params.outputs
    rows: list[TransferRow] = []
    summary_targets: dict[str, Any] = {}
    for target in params.targets:
        cands = target_candidates(params, store, target)
        stacked = [read_losses(store, c.losses) for c in cands]
        pixels = read_losses(store, params.pixels[target])
        losses = np.stack([*stacked, pixels])
        pixels_index = len(cands)
        self_index = next((i for i, c in enumerate(cands) if c.kind == "self_full_supervision"), None)
        res = target_affinity(losses, self_index=self_index, pixels_index=pixels_index,
                               bootstrap=params.bootstrap, seed=params.seed)
        aff = np.asarray(res.affinity, dtype=np.float64)
        gain = np.asarray(res.gain, dtype=np.float64)
        quality = None if res.quality is None else np.asarray(res.quality, dtype=np.float64)
        low, high = res.affinity_low, res.affinity_high
        for i, c in enumerate(cands):
            rows.append(TransferRow(
                target=target, sources=table_sources(c), kind=c.kind,
                affinity=float(aff[i]), gain=float(gain[i]),
                quality=None if quality is None else float(quality[i]),
                affinity_low=None if low is None else float(low[i]),
                affinity_high=None if high is None else float(high[i]),
            ))
        meta = {"target": target, "candidates": [{"sources": list(table_sources(c)), "kind": c.kind,
                                                  "losses": c.losses} for c in cands],
                "pixels_index": pixels_index, "self_index": self_index, "pixels": params.pixels[target]}
        store.put_tensors(outputs.losses[target], {"losses": losses}, metadata=meta)
        summary_targets[target] = {
            "candidates": meta["candidates"], "self_index": self_index, "pixels_index": pixels_index,
            "affinity": aff[: len(cands)].tolist(), "gain": gain[: len(cands)].tolist(),
            "quality": None if quality is None else quality[: len(cands)].tolist(),
            "mean_loss": [float(x.mean()) for x in stacked], "pixels_mean_loss": float(pixels.mean()),
            "win_rates": np.asarray(res.win_rates)[: len(cands), : len(cands)].tolist(),
            "consistency_ratio": float(res.consistency_ratio),
            "preview": params.previews.get(target),
        }
    table = TransferTable.from_rows(rows)
    buf = io.BytesIO()
    table.write(buf, format="csv")
    store.put_bytes(outputs.table, buf.getvalue(), meta={"rows": len(rows)})
    solution = solve_experiment(table, params)
    store.put_json(outputs.taxonomy, solution)
    store.put_json(outputs.summary, {"targets": summary_targets, "roles": dict(params.roles),
                                     "budget": params.budget, "max_order": params.max_order,
                                     "table": outputs.table, "taxonomy": outputs.taxonomy})
