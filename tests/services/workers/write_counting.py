"""A worker plugin (``TASKONOMY_JOB_PLUGINS=...,tests.services.workers.write_counting``, the
extension point of :mod:`services.queue.jobkinds`) whose store counts every real artifact write in
Redis, so the queue and fault tests can prove that each artifact is written once.

Each real write is counted when it begins (``P:write_starts``, hash key -> writes begun) and when it
is done (``P:writes``, hash key -> writes done): a write a kill interrupted between its last byte
and its count is still seen as begun. Never loaded in production.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.queue.redis_keys import DEFAULT_PREFIX
from services.queue.workerstore import WorkerStore


def writes_key(prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}:writes"


def write_starts_key(prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}:write_starts"


class CountingStore(WorkerStore):
    """A worker store counting its real writes in Redis (nothing counted without a client)."""

    def write(self, key: str, data: bytes, *, meta: Mapping[str, Any] | None = None) -> str:
        if self.r is not None:
            self.r.hincrby(write_starts_key(self.prefix), key, 1)
        digest = super().write(key, data, meta=meta)
        if self.r is not None:
            self.r.hincrby(writes_key(self.prefix), key, 1)
        return digest


STORE_CLASS = CountingStore


def write_counts(r: Any, *, prefix: str = DEFAULT_PREFIX) -> dict[str, int]:
    """Artifact key -> number of real writes done."""
    return {k: int(v) for k, v in r.hgetall(writes_key(prefix)).items()}


def write_starts(r: Any, *, prefix: str = DEFAULT_PREFIX) -> dict[str, int]:
    """Artifact key -> number of real writes begun (a process killed mid-write counts here only)."""
    return {k: int(v) for k, v in r.hgetall(write_starts_key(prefix)).items()}
