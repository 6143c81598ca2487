"""Job kinds beyond the pipeline's, from plugin modules named by ``TASKONOMY_JOB_PLUGINS``.

The workers run the core's jobs (:func:`taskonomy.pipeline.run_job`). A plugin module adds kinds
of its own: it exposes ``JOB_KINDS``, a sequence of :class:`JobKind` objects. An experiment whose
spec is ``{"kind": <a plugin kind>, ...}`` gets its job graph from that kind's :meth:`JobKind.graph`,
and each of its jobs is run by :meth:`JobKind.run`. The test suite's synthetic jobs
(``tests/services/workers/noop_jobs.py``: sleeps, failures, simulated transient errors) and the
queue benchmark use this; production workers load no plugin.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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


class JobKind(Protocol):
    """A job kind of a plugin module."""

    name: str

    def graph(self, spec: Mapping[str, Any]) -> tuple[list[JobDict], dict[str, list[str]]]:
        """The jobs (as JSON dicts) and dependencies of an experiment spec of this kind."""
        ...

    def run(self, job: JobDict, env: JobEnv) -> bool:
        """Run one job; True when work was done (False: its outputs existed)."""
        ...


def load_job_kinds(modules: Iterable[str]) -> dict[str, JobKind]:
    """The job kinds of the named plugin modules, by name (a kind defined twice is refused)."""
    kinds: dict[str, JobKind] = {}
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise InvalidInputError(f"TASKONOMY_JOB_PLUGINS: cannot import {name!r}: {exc}") from None
        for kind in getattr(module, "JOB_KINDS", ()):
            if kind.name in kinds:
                raise InvalidInputError(f"TASKONOMY_JOB_PLUGINS: job kind {kind.name!r} is defined twice")
            kinds[kind.name] = kind
    return kinds
