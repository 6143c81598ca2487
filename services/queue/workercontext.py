"""Per-process handles of a worker: its settings, Redis client, experiment state, artifact stores
and plugins (:mod:`services.queue.jobkinds`). Built on first use in each process (a forked pool process builds its own
connections), never at import."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from services.queue.jobkinds import PluginJobKind, load_plugins
from services.queue.redisconn import redis_client
from services.queue.settings import WorkerSettings, load_worker_settings
from services.queue.state import ExperimentStateStore
from services.queue.workerstore import WorkerStore


@dataclass
class WorkerContext:
    settings: WorkerSettings
    r: Any
    state: ExperimentStateStore
    stores: dict[str, WorkerStore] = field(default_factory=dict)
    job_kinds: dict[str, PluginJobKind] = field(default_factory=dict)
    store_class: type[WorkerStore] = WorkerStore

    @classmethod
    def create(cls, settings: WorkerSettings) -> WorkerContext:
        r = redis_client(settings.broker_url)
        plugins = load_plugins(settings.job_plugins)
        return cls(settings=settings, r=r, state=ExperimentStateStore(r, prefix=settings.state_prefix),
                   job_kinds=plugins.job_kinds, store_class=plugins.store_class)

    @property
    def prefix(self) -> str:
        return self.settings.state_prefix

    def store(self, url: str) -> WorkerStore:
        if url not in self.stores:
            self.stores[url] = self.store_class(url, r=self.r, prefix=self.settings.state_prefix)
        return self.stores[url]


_CONTEXT: dict[int, WorkerContext] = {}


def worker_context() -> WorkerContext:
    """This process's context (settings read from the environment the first time)."""
    pid = os.getpid()
    if pid not in _CONTEXT:
        context = WorkerContext.create(load_worker_settings())
        _CONTEXT.clear()
        _CONTEXT[pid] = context
    return _CONTEXT[pid]
