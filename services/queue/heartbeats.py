"""Worker heartbeats in Redis: who consumes which queue now, and which workers were lost.

Every worker's main process beats every ``heartbeat_seconds`` (a bootstep on the worker's timer):
it sets ``P:worker:<hostname>`` (JSON: hostname, queues, pid, started_at) with an expiry of three
beats, and records itself in the ``P:workers`` hash (hostname -> the same JSON plus ``seen_at``).
A worker that stops cleanly (SIGTERM, scale-down) deletes both. A worker killed outright stops
beating: its key expires within three beats, while its entry in ``P:workers`` stays behind — it is
*lost* (a kill -9, OOM, a node gone) until it is forgotten :data:`LOST_KEEP_SECONDS` later.

The gateway exports ``taskonomy_workers{queue}`` (live workers per queue) and
``taskonomy_workers_lost`` (workers lost within the last :data:`LOST_KEEP_SECONDS`) from
:func:`census`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from celery import bootsteps

from services.queue.redis_keys import DEFAULT_PREFIX, KeySchema

log = logging.getLogger(__name__)

#: A key expires after this many missed beats.
TTL_BEATS = 3
#: How long a lost worker is counted in ``taskonomy_workers_lost`` (then forgotten).
LOST_KEEP_SECONDS = 3600.0


def worker_key(hostname: str, *, prefix: str = DEFAULT_PREFIX) -> str:
    return KeySchema(prefix).worker(hostname)


def registry_key(*, prefix: str = DEFAULT_PREFIX) -> str:
    return KeySchema(prefix).workers()


def beat(r: Any, hostname: str, queues: Iterable[str], *, every: float, started_at: float,
         prefix: str = DEFAULT_PREFIX) -> None:
    """Say that ``hostname`` is alive and consumes ``queues``, for ``TTL_BEATS`` beats of ``every`` s."""
    now = time.time()
    info = {"hostname": hostname, "queues": sorted(queues), "pid": os.getpid(), "started_at": started_at}
    pipe = r.pipeline(transaction=True)
    pipe.set(worker_key(hostname, prefix=prefix), json.dumps(info, sort_keys=True),
             px=max(1, int(every * TTL_BEATS * 1000)))
    pipe.hset(registry_key(prefix=prefix), hostname, json.dumps({**info, "seen_at": now}, sort_keys=True))
    pipe.execute()


def leave(r: Any, hostname: str, *, prefix: str = DEFAULT_PREFIX) -> None:
    """A clean stop: the worker is neither alive nor lost."""
    pipe = r.pipeline(transaction=True)
    pipe.delete(worker_key(hostname, prefix=prefix))
    pipe.hdel(registry_key(prefix=prefix), hostname)
    pipe.execute()


@dataclass(frozen=True)
class Census:
    """Live workers per queue, and the workers lost (stopped beating without leaving)."""

    per_queue: dict[str, int]
    live: list[str]
    lost: list[str]


def census(r: Any, queues: Iterable[str], *, prefix: str = DEFAULT_PREFIX, now: float | None = None) -> Census:
    """Count the live workers per queue (every queue in ``queues`` present, 0 when none) and the lost
    ones; lost workers seen last more than :data:`LOST_KEEP_SECONDS` ago are forgotten here."""
    now = time.time() if now is None else now
    per_queue = dict.fromkeys(queues, 0)
    registry: dict[str, str] = r.hgetall(registry_key(prefix=prefix))
    hostnames = sorted(registry)
    alive = r.mget([worker_key(h, prefix=prefix) for h in hostnames]) if hostnames else []
    live: list[str] = []
    lost: list[str] = []
    for hostname, raw in zip(hostnames, alive, strict=True):
        if raw is None:
            try:
                seen_at = float(json.loads(registry[hostname]).get("seen_at", 0.0))
            except (ValueError, TypeError, AttributeError):
                seen_at = 0.0
            if now - seen_at > LOST_KEEP_SECONDS:
                r.hdel(registry_key(prefix=prefix), hostname)
            else:
                lost.append(hostname)
            continue
        live.append(hostname)
        try:
            consumed = json.loads(raw).get("queues", [])
        except (ValueError, TypeError, AttributeError):
            consumed = []
        for q in set(consumed):
            if q in per_queue:
                per_queue[q] += 1
    return Census(per_queue, live, lost)


def heartbeat_bootstep(context: Callable[[], Any]) -> type:
    """A worker bootstep beating on the worker's timer (main process) every ``heartbeat_seconds``
    of the worker's settings, and leaving on a clean stop. ``context()`` gives the worker context."""

    class Heartbeat(bootsteps.StartStopStep):
        requires = {"celery.worker.components:Timer"}

        def __init__(self, worker: Any, **kwargs: Any) -> None:
            super().__init__(worker, **kwargs)
            self.tref: Any = None
            self.hostname = ""
            self.queues: list[str] = []
            self.started_at = time.time()

        def start(self, worker: Any) -> None:
            self.hostname = str(worker.hostname)
            self.queues = sorted(worker.app.amqp.queues.consume_from or worker.app.amqp.queues)
            self.tick()
            self.tref = worker.timer.call_repeatedly(context().settings.heartbeat_seconds, self.tick, priority=10)

        def stop(self, worker: Any) -> None:
            if self.tref is not None:
                self.tref.cancel()
                self.tref = None
            try:
                ctx = context()
                leave(ctx.r, self.hostname, prefix=ctx.prefix)
            except Exception as exc:  # Redis away at shutdown: the key expires, the worker shows as lost
                log.warning("heartbeat: could not leave: %s", type(exc).__name__)

        def terminate(self, worker: Any) -> None:
            """A cold shutdown (SIGTERM, see :func:`services.queue.celery_app`) leaves like a warm one:
            Celery's default ``terminate`` would only stop a step's ``obj``, which this step has not."""
            self.stop(worker)

        def tick(self) -> None:
            try:
                ctx = context()
                beat(ctx.r, self.hostname, self.queues, every=ctx.settings.heartbeat_seconds,
                     started_at=self.started_at, prefix=ctx.prefix)
            except Exception as exc:  # a missed beat must never take the worker down; the next one retries
                log.warning("heartbeat failed: %s: %s", type(exc).__name__, exc)

    return Heartbeat
