"""The artifact store as a worker uses it: write-once, dropping corrupt artifacts.

A plugin (:mod:`services.queue.jobkinds`) may give the workers a subclass, e.g. one that observes
each real write (:meth:`WorkerStore.write`)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from services.queue.redis_keys import DEFAULT_PREFIX
from taskonomy.errors import CorruptArtifactError, NotFoundError
from taskonomy.store import ArtifactStore

log = logging.getLogger(__name__)


class WorkerStore(ArtifactStore):
    """The artifact store as a worker uses it: write-once.

    ``put_bytes`` of a key that already holds the same bytes (content-addressed keys: same key,
    same content) writes nothing, so a job re-run after losing its process half-way through its
    outputs does not write the finished ones twice; every other ``put_bytes`` is a real write
    (:meth:`write`). ``r`` and ``prefix`` are the worker's Redis client and key prefix, for a
    subclass that keeps something in Redis.
    """

    def __init__(self, url: str, *, r: Any = None, prefix: str = DEFAULT_PREFIX) -> None:
        super().__init__(url)
        self.r = r
        self.prefix = prefix

    def put_bytes(self, key: str, data: bytes, *, meta: Mapping[str, Any] | None = None) -> str:
        digest = hashlib.sha256(bytes(data)).hexdigest()
        if self.exists(key):
            try:
                if self._sidecar(key).get("sha256") == digest and self.get_bytes(key):
                    return digest
            except (CorruptArtifactError, NotFoundError):
                pass
        return self.write(key, data, meta=meta)

    def write(self, key: str, data: bytes, *, meta: Mapping[str, Any] | None = None) -> str:
        """One real write of ``key`` (the bytes differ from the stored ones, or none are stored)."""
        return super().put_bytes(key, data, meta=meta)

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

