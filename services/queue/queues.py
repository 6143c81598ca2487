"""Which Redis keys make up a queue's load, defined once: the gateway's ``taskonomy_queue_depth``
gauge reads them, and the Helm chart renders the same names into its KEDA triggers (a test keeps
``deploy/helm/taskonomy/templates/_helpers.tpl`` equal to :func:`scaling_lists`).

- **Waiting messages.** Celery's Redis transport keeps a queue as a list named after it plus one
  list per priority step (``<queue>\\x06\\x16<step>``, kombu's separator, steps 3, 6 and 9):
  :func:`queue_lists` (kombu's names, built in :mod:`services.queue.redis_keys` like every key).
- **Running jobs.** A delivered message leaves the lists, so a queue-length signal alone sees a
  busy worker as idle (and an autoscaler takes its GPU away). Each running job is therefore
  marked in ``<prefix>:running:<queue>``, a list holding its job id while the job holds its lease
  (:class:`RunningMark`). The mark of a killed worker is pruned by the lost-job sweep once the
  job's lease has lapsed (:func:`prune_running`).

The load of a queue is waiting + running: :func:`queue_load`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.queue.leases import lease_key
from services.queue.redis_keys import DEFAULT_PREFIX, PRIORITY_STEPS, KeySchema, queue_lists


def running_list(queue: str, *, prefix: str = DEFAULT_PREFIX) -> str:
    """The Redis list of the ids of ``queue``'s running jobs."""
    return KeySchema(prefix).running(queue)


def scaling_lists(queue: str, *, prefix: str = DEFAULT_PREFIX) -> tuple[str, ...]:
    """Every list an autoscaler reads for ``queue``: its waiting messages and its running jobs."""
    return (*queue_lists(queue), running_list(queue, prefix=prefix))


def queue_depths(r: Any, queues: Iterable[str]) -> dict[str, int]:
    """Waiting messages per queue (all its lists added up)."""
    names = list(queues)
    pipe = r.pipeline(transaction=False)
    for q in names:
        for key in queue_lists(q):
            pipe.llen(key)
    lengths = [int(n) for n in pipe.execute()]
    per = 1 + len(PRIORITY_STEPS)
    return {q: sum(lengths[i * per:(i + 1) * per]) for i, q in enumerate(names)}


def running_counts(r: Any, queues: Iterable[str], *, prefix: str = DEFAULT_PREFIX) -> dict[str, int]:
    """Running jobs per queue."""
    names = list(queues)
    pipe = r.pipeline(transaction=False)
    for q in names:
        pipe.llen(running_list(q, prefix=prefix))
    return {q: int(n) for q, n in zip(names, pipe.execute(), strict=True)}


def queue_load(r: Any, queues: Iterable[str], *, prefix: str = DEFAULT_PREFIX) -> dict[str, dict[str, int]]:
    """``{queue: {"waiting": w, "running": n, "load": w + n}}``."""
    names = list(queues)
    waiting = queue_depths(r, names)
    running = running_counts(r, names, prefix=prefix)
    return {q: {"waiting": waiting[q], "running": running[q], "load": waiting[q] + running[q]} for q in names}


class RunningMark:
    """Marks one running job in its queue's running list (pushed on :meth:`add`, removed on
    :meth:`remove`; both idempotent)."""

    def __init__(self, r: Any, queue: str, job_id: str, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.r = r
        self.key = running_list(queue, prefix=prefix)
        self.job_id = job_id
        self._added = False

    def add(self) -> None:
        self.r.rpush(self.key, self.job_id)
        self._added = True

    def remove(self) -> None:
        if self._added:
            self._added = False
            self.r.lrem(self.key, 1, self.job_id)


def prune_running(r: Any, queues: Iterable[str], *, prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Drop the running marks whose job holds no lease any more (its worker was killed); returns
    the job ids dropped. A mark is pushed after its lease is taken and removed before it is
    released, so a mark without a lease is stale."""
    dropped: list[str] = []
    for q in queues:
        key = running_list(q, prefix=prefix)
        for raw in r.lrange(key, 0, -1):
            job_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            if not r.exists(lease_key(job_id, prefix=prefix)) and r.lrem(key, 1, job_id):
                dropped.append(job_id)
    return dropped
