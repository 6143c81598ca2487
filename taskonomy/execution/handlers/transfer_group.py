"""``transfer_group``: several first-order transfers (of one source, one target, or all of them)
trained together in one fused loop; the same results as one job each, within float rounding."""

from __future__ import annotations

from taskonomy.contract import Job, TransferGroupParams
from taskonomy.execution.handlers._types import Progress
from taskonomy.execution.handlers.transfer import FusedTransfers, fused_threads, store_transfer
from taskonomy.store import ArtifactStore


def run(job: Job, store: ArtifactStore, progress: Progress) -> None:
    """Train the group's transfers that have no output yet together (one fused trainer)."""
    p = job.typed(TransferGroupParams)
    todo = [m for m in p.members if not store.exists(m.output)]
    if not todo:
        return
    fused = FusedTransfers(todo, store, workers=fused_threads() if p.by == "all" else 1)
    try:
        nets = fused.trainer.run(progress=progress)
        for i, (m, net) in enumerate(zip(todo, nets, strict=True)):
            store_transfer(store, m, net, fused.evaluate(i), mode="fused")
    finally:
        fused.trainer.close()
