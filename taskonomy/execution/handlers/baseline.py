"""``baseline``: the ``pixels`` reference of one target, a network from the image alone."""

from __future__ import annotations

import numpy as np

from taskonomy.contract import BaselineParams, Job
from taskonomy.execution.artifacts import read_arrays, write_array
from taskonomy.execution.handlers._types import Progress
from taskonomy.store import ArtifactStore
from taskonomy.tasks import PIXELS, get_task


def run(job: Job, store: ArtifactStore, progress: Progress) -> None:
    from taskonomy.training import evaluate_network, train_pixels_baseline  # torch: when the job runs

    p = job.typed(BaselineParams)
    target = get_task(p.target)
    net = train_pixels_baseline(target, read_arrays(store, p.data["transfer"]), model=p.model,
                                train=p.train_config(), progress=progress)
    losses = evaluate_network(target, net, read_arrays(store, p.data["test"]), model=p.model)
    write_array(store, p.output, np.asarray(losses, dtype=np.float64), target=p.target, kind=PIXELS)
