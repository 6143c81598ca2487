"""``evaluate``: the ``self`` candidate, a task network's per-test-image losses, and a few predictions."""

from __future__ import annotations

import numpy as np

from taskonomy.contract import EvaluateParams, Job
from taskonomy.execution.artifacts import read_arrays, read_network, write_array
from taskonomy.execution.handlers._types import Progress
from taskonomy.store import ArtifactStore
from taskonomy.tasks import SELF, get_task


def run(job: Job, store: ArtifactStore, progress: Progress) -> None:
    from taskonomy.training import evaluate_network, predict  # torch: when the job runs

    p = job.typed(EvaluateParams)
    task = get_task(p.task)
    net = read_network(store, p.net)
    data = read_arrays(store, p.data)
    losses = np.asarray(evaluate_network(task, net, data, model=p.model), dtype=np.float64)
    n = min(p.n_preview, len(losses))
    head = {k: v[:n] for k, v in data.items()}
    preview = {"prediction": np.asarray(predict(task, net, head, model=p.model)), "target": head[task.target]}
    for i, k in enumerate(task.inputs):
        preview[f"input{i}"] = head[k]
    store.put_tensors(p.preview, preview, metadata={"task": p.task, "inputs": list(task.inputs)})
    write_array(store, p.output, losses, target=p.task, kind=SELF)
