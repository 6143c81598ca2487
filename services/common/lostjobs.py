"""The lost-job sweep: jobs whose message went down with a killed worker are sent again.

kombu's Redis transport pops a message before it records it as unacknowledged, so a worker
killed in between takes the message along (celery/celery#7950). Every worker therefore sweeps,
every quarter of ``lost_job_seconds`` (a bootstep on the worker's timer, in its main process),
for jobs of running experiments sent that long ago that are neither done, nor leased (running),
nor a message in any queue or among the unacknowledged ones, and sends them again
(:func:`sweep_lost_jobs`). A duplicate of a job that does run after all is harmless: it waits for
the lease, or finds its outputs and skips.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from celery import bootsteps

from services.common.jobrunner import Sender
from services.common.leases import lease_key
from services.common.runbook import RunBook, current_run, run_store_url
from services.common.tasknames import QUEUES, RUN_JOB
from services.common.workercontext import WorkerContext

log = logging.getLogger(__name__)


def queued_job_ids(r: Any, queues: Iterable[str]) -> set[str]:
    """Ids of the jobs that have a ``run_job`` message in the broker: waiting in one of ``queues``
    (kombu's Redis lists, priority sub-queues included) or delivered and not yet acknowledged."""
    raws: list[str] = []
    for q in queues:
        for key in r.scan_iter(match=f"{q}*", count=500):
            if r.type(key) == "list":
                raws.extend(r.lrange(key, 0, -1))
    messages: list[Any] = []
    for raw in raws:
        try:
            messages.append(json.loads(raw))
        except ValueError:
            continue
    for value in r.hvals("unacked"):  # [message, exchange, routing key]
        try:
            messages.append(json.loads(value)[0])
        except (ValueError, TypeError, IndexError, KeyError):
            continue
    ids: set[str] = set()
    for msg in messages:
        try:
            if msg.get("headers", {}).get("task") != RUN_JOB:
                continue
            body = msg["body"]
            if msg.get("properties", {}).get("body_encoding") == "base64":
                body = base64.b64decode(body).decode()
            args = json.loads(body)[0]
            ids.add(str(args[2]["id"]))
        except (ValueError, TypeError, IndexError, KeyError, AttributeError):
            continue
    return ids


def sweep_lost_jobs(ctx: WorkerContext, send: Sender, *, older_than: float,
                    queues: Iterable[str] = QUEUES) -> list[str]:
    """Send again the jobs of running experiments whose message was lost: sent ``older_than``
    seconds ago or more, not done, not leased (running), and no message of theirs in the broker.
    Returns the ids sent again."""
    prefix = ctx.prefix
    candidates: list[tuple[RunBook, str]] = []
    offset = 0
    while batch := ctx.state.list(limit=100, offset=offset):
        offset += len(batch)
        for rec in batch:
            run = current_run(ctx.r, rec.id, prefix=prefix) if rec.state == "RUNNING" else None
            if run is not None:
                book = RunBook(ctx.r, rec.id, run, prefix=prefix)
                candidates += [(book, j) for j in book.silent_since(older_than)
                               if not ctx.r.exists(lease_key(j, prefix=prefix))]
    if not candidates:
        return []
    present = queued_job_ids(ctx.r, queues)
    resent = []
    for book, job_id in candidates:
        job = book.job(job_id)
        store_url = run_store_url(ctx.r, book.exp_id, prefix=prefix)
        token = book.sender(job_id)
        if job_id in present or job is None or not store_url or token is None or not book.claim(job_id, token):
            continue
        log.warning("experiment %s: job %s (%s) was sent %.0f s ago or more and has no message left in the "
                    "broker: sending it again", book.exp_id, job_id, job["kind"], older_than)
        send(book.exp_id, book.run, job, store_url, token)
        resent.append(job_id)
    return resent


def lost_job_bootstep(send: Sender, context: Callable[[], WorkerContext]) -> type:
    """A worker bootstep running :func:`sweep_lost_jobs` on the worker's timer (main process)."""

    class LostJobSweep(bootsteps.StartStopStep):
        requires = {"celery.worker.components:Timer"}

        def __init__(self, worker: Any, **kwargs: Any) -> None:
            super().__init__(worker, **kwargs)
            self.tref: Any = None

        def start(self, worker: Any) -> None:
            every = max(0.5, context().settings.lost_job_seconds / 4)
            self.tref = worker.timer.call_repeatedly(every, self.sweep, priority=10)

        def stop(self, worker: Any) -> None:
            if self.tref is not None:
                self.tref.cancel()
                self.tref = None

        def sweep(self) -> None:
            try:
                ctx = context()
                sweep_lost_jobs(ctx, send, older_than=ctx.settings.lost_job_seconds)
            except Exception as exc:  # a sweep must never take the worker down; the next one retries
                log.warning("lost-job sweep failed: %s: %s", type(exc).__name__, exc)

    return LostJobSweep
