"""``train``: a task-specific network, fully supervised on the train split."""

from __future__ import annotations

from taskonomy.contract import Job, TrainParams
from taskonomy.execution.artifacts import read_arrays, store_network
from taskonomy.execution.handlers._types import Progress
from taskonomy.store import ArtifactStore
from taskonomy.tasks import get_task


def run(job: Job, store: ArtifactStore, progress: Progress) -> None:
    from taskonomy.training import train_task_network  # torch: when the job runs

    p = job.typed(TrainParams)
    net = train_task_network(get_task(p.task), read_arrays(store, p.data), model=p.model,
                             train=p.train_config(), progress=progress)
    store_network(store, p.output, net)
