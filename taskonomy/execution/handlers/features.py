"""``features``: one frozen source encoder's representation of one split's input images."""

from __future__ import annotations

import numpy as np

from taskonomy.contract import FeaturesParams, Job
from taskonomy.execution.artifacts import encoder_state, read_arrays, write_array
from taskonomy.execution.handlers._types import Progress
from taskonomy.store import ArtifactStore


def run(job: Job, store: ArtifactStore, progress: Progress) -> None:
    from taskonomy.training import extract_features  # torch: when the job runs

    p = job.typed(FeaturesParams)
    todo = {k: out for k, out in p.output.items() if not store.exists(out)}
    enc = encoder_state(store, p.net)
    data = read_arrays(store, {k: p.data[k] for k in todo})
    feats = extract_features(enc, data, keys=sorted(todo), model=p.model)
    for k, out in todo.items():
        write_array(store, out, np.asarray(feats[k], dtype=np.float32), source=p.source, split=p.split, image_key=k)
