"""The workers' extension point: plugin modules named by ``TASKONOMY_JOB_PLUGINS`` (comma-separated).

The workers run the core's jobs (:func:`taskonomy.execution.run_job`). A plugin module extends them
with either or both of:

- ``JOB_KINDS``, a sequence of :class:`PluginJobKind` objects: kinds of jobs of its own. An experiment
  whose spec is ``{"kind": <a plugin kind>, ...}`` gets its job graph from that kind's
  :meth:`PluginJobKind.graph`, and each of its jobs is run by :meth:`PluginJobKind.run`;
- ``STORE_CLASS``, a subclass of :class:`~services.queue.workerstore.WorkerStore` (constructed as
  ``STORE_CLASS(url, r=<the worker's Redis client>, prefix=<the key prefix>)``): the artifact store
  every job of the worker writes through, e.g. to observe or audit its writes.

No plugin is loaded unless named. The users today are outside the production code: the test
suite's synthetic jobs (``tests/services/workers/noop_jobs.py``: sleeps, failures, simulated
transient errors; also the queue benchmark's no-op jobs) and its write-counting store
(``tests/services/workers/write_counting.py``, which proves every artifact is written once).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.queue.runbook import JobDict
from services.queue.workerstore import WorkerStore
from taskonomy.errors import InvalidInputError


@dataclass(frozen=True)
class JobEnv:
    """What a plugin job may use: the worker's store, its Redis client and the key prefix."""

    store: WorkerStore
    redis: Any
    prefix: str


class PluginJobKind(Protocol):
    """A job kind of a plugin module."""

    name: str

    def graph(self, spec: Mapping[str, Any]) -> tuple[list[JobDict], dict[str, list[str]]]:
        """The jobs (as JSON dicts) and dependencies of an experiment spec of this kind."""
        ...

    def run(self, job: JobDict, env: JobEnv) -> bool:
        """Run one job; True when work was done (False: its outputs existed)."""
        ...


@dataclass(frozen=True)
class Plugins:
    """What the plugin modules add: job kinds by name, and the store class (WorkerStore by default)."""

    job_kinds: dict[str, PluginJobKind] = field(default_factory=dict)
    store_class: type[WorkerStore] = WorkerStore


def load_plugins(modules: Iterable[str]) -> Plugins:
    """The job kinds and the store class of the named plugin modules (a kind defined twice, two
    store classes, or a store class that is no WorkerStore are refused)."""
    kinds: dict[str, PluginJobKind] = {}
    store_class: type[WorkerStore] | None = None
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise InvalidInputError(f"TASKONOMY_JOB_PLUGINS: cannot import {name!r}: {exc}") from None
        for kind in getattr(module, "JOB_KINDS", ()):
            if kind.name in kinds:
                raise InvalidInputError(f"TASKONOMY_JOB_PLUGINS: job kind {kind.name!r} is defined twice")
            kinds[kind.name] = kind
        cls = getattr(module, "STORE_CLASS", None)
        if cls is not None:
            if not (isinstance(cls, type) and issubclass(cls, WorkerStore)):
                raise InvalidInputError(f"TASKONOMY_JOB_PLUGINS: {name}.STORE_CLASS is not a WorkerStore subclass")
            if store_class is not None:
                raise InvalidInputError("TASKONOMY_JOB_PLUGINS: two plugins define STORE_CLASS")
            store_class = cls
    return Plugins(kinds, store_class or WorkerStore)
