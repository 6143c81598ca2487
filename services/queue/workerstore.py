"""The artifact store as a worker uses it: write-once, dropping corrupt artifacts, optionally
counting every real write in Redis (``P:writes``, hash key -> writes; the fault tests read it) and
every write begun (``P:write_starts``), so a write a kill interrupted between its last byte and its
count is still seen as a write."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from services.queue.redis_keys import DEFAULT_PREFIX, KeySchema
from taskonomy.errors import CorruptArtifactError, NotFoundError
from taskonomy.store import ArtifactStore

log = logging.getLogger(__name__)


class WorkerStore(ArtifactStore):
    """The artifact store as a worker uses it: write-once, and optionally counting writes.

    ``put_bytes`` of a key that already holds the same bytes (content-addressed keys: same key,
    same content) writes nothing, so a job re-run after losing its process half-way through its
    outputs does not write the finished ones twice. With ``count_writes`` every real write is
    counted in Redis when it begins (``P:write_starts``) and when it is done (``P:writes``), which
    the fault tests read.
    """

    def __init__(self, url: str, *, r: Any = None, count_writes: bool = False, prefix: str = DEFAULT_PREFIX) -> None:
        super().__init__(url)
        self._r = r
        self._count = count_writes and r is not None
        self._writes_key = KeySchema(prefix).writes()
        self._starts_key = KeySchema(prefix).write_starts()

    def put_bytes(self, key: str, data: bytes, *, meta: Mapping[str, Any] | None = None) -> str:
        digest = hashlib.sha256(bytes(data)).hexdigest()
        if self.exists(key):
            try:
                if self._sidecar(key).get("sha256") == digest and self.get_bytes(key):
                    return digest
            except (CorruptArtifactError, NotFoundError):
                pass
        if self._count:
            self._r.hincrby(self._starts_key, key, 1)
        digest = super().put_bytes(key, data, meta=meta)
        if self._count:
            self._r.hincrby(self._writes_key, key, 1)
        return digest

    def drop_if_corrupt(self, key: str) -> bool:
        """Delete ``key`` when it exists but fails its checksum; True when it was dropped."""
        if not self.exists(key):
            return False
        try:
            self.get_bytes(key)
            return False
        except CorruptArtifactError:
            log.warning("artifact %s is corrupt: deleted, it will be recomputed", key)
            self.delete(key)
            return True


def write_counts(r: Any, *, prefix: str = DEFAULT_PREFIX) -> dict[str, int]:
    """Artifact key -> number of real writes done (only recorded with ``count_writes``)."""
    return {k: int(v) for k, v in r.hgetall(KeySchema(prefix).writes()).items()}


def write_starts(r: Any, *, prefix: str = DEFAULT_PREFIX) -> dict[str, int]:
    """Artifact key -> number of real writes begun (a process killed mid-write counts here only)."""
    return {k: int(v) for k, v in r.hgetall(KeySchema(prefix).write_starts()).items()}
