"""A running job's lease in Redis: its exclusive right to run, renewed by a heartbeat thread.

A second delivery of the same job waits for the lease instead of running concurrently, and the
lease of a killed worker (SIGKILL: no more heartbeats) lapses after ``seconds`` — so every
artifact is written once. Key: ``P:lease:<job id>`` holding the holder's random token.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable
from typing import Any

from services.queue.redis_keys import DEFAULT_PREFIX, KeySchema

log = logging.getLogger(__name__)

_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def lease_key(job_id: str, *, prefix: str = DEFAULT_PREFIX) -> str:
    return KeySchema(prefix).lease(job_id)


def leased(r: Any, job_ids: Iterable[str], *, prefix: str = DEFAULT_PREFIX) -> list[str]:
    """The jobs among ``job_ids`` whose lease is held now (they are running somewhere)."""
    ids = list(job_ids)
    if not ids:
        return []
    pipe = r.pipeline(transaction=False)
    for j in ids:
        pipe.exists(lease_key(j, prefix=prefix))
    return [j for j, held in zip(ids, pipe.execute(), strict=True) if held]


class Lease:
    """A job's exclusive right to run, held in Redis and renewed by a heartbeat thread.

    A process killed with SIGKILL stops renewing, so its lease expires after ``seconds``.
    """

    def __init__(self, r: Any, key: str, *, seconds: float) -> None:
        self.r = r
        self.key = key
        self.ms = max(100, int(seconds * 1000))
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> bool:
        if not self.r.set(self.key, self.token, nx=True, px=self.ms):
            return False
        self._thread = threading.Thread(target=self._beat, name=f"lease-{self.key}", daemon=True)
        self._thread.start()
        return True

    def _beat(self) -> None:
        while not self._stop.wait(self.ms / 3000):
            try:
                self.r.eval(_RENEW, 1, self.key, self.token, self.ms)
            except Exception as exc:  # Redis away for a moment: the next beat tries again
                log.warning("lease %s not renewed: %s", self.key, exc)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.r.eval(_RELEASE, 1, self.key, self.token)
        except Exception as exc:
            log.warning("lease %s not released (it expires by itself): %s", self.key, exc)
