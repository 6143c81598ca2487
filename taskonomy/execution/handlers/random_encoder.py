"""``random_encoder``: the frozen randomly initialised encoder, the ``random`` source."""

from __future__ import annotations

from taskonomy.contract import Job, RandomEncoderParams
from taskonomy.execution.handlers._types import Progress
from taskonomy.store import ArtifactStore
from taskonomy.tasks import RANDOM


def run(job: Job, store: ArtifactStore, progress: Progress) -> None:
    from taskonomy.training import random_encoder_state  # torch: when the job runs

    p = job.typed(RandomEncoderParams)
    state = random_encoder_state(p.model, seed=p.seed)
    store.put_tensors(p.output, dict(state), metadata={"task": RANDOM, "encoder_only": True})
