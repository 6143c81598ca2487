"""The lost-job sweep: every fault that leaves an experiment waiting for a message nobody holds
ends within ``lost_job_seconds`` (plus a quarter of it) of the fault, without waiting for the
broker's visibility timeout (hours).

Every worker runs :func:`sweep` every quarter of ``lost_job_seconds`` (a bootstep on the worker's
timer, in its main process). With ``T = lost_job_seconds``:

1. **A killed worker's unacknowledged messages.** A worker killed with its pool (kill -9, OOM of
   the whole pod) leaves the message it was running in kombu's ``unacked`` hash, where Redis would
   hand it out again only after the visibility timeout. A ``run_job`` message delivered ``T`` ago
   or more whose job holds no lease (it is not running anywhere), and a control message
   (``run_experiment``, ``cancel_experiment``) delivered ``T`` ago or more, are restored to their
   queue (:func:`restore_message`: what kombu's ``QoS.restore_by_tag`` does, without its need to
   have declared the message's exchange in this very process: a worker that consumes only the
   transfer queue restores a dead trainer's message too).
2. **Messages lost outright.** kombu's Redis transport pops a message before it records it as
   unacknowledged, so a worker killed in between takes it along (celery/celery#7950). A job of a
   RUNNING experiment sent ``T`` ago or more that is neither done, nor leased, nor a message in any
   queue or among the unacknowledged ones is sent again; a PENDING experiment whose start message
   is nowhere (and that has not changed for ``T``) is started again.
3. **Cancels whose jobs died.** A CANCELLING experiment none of whose jobs holds a lease is
   CANCELLED.
4. **Running marks of dead jobs.** A job marked running (:mod:`services.queue.queues`, what the
   autoscaler counts) whose lease has lapsed is unmarked.

Each recovery is an event of the experiment (``job_restored``, ``start_restored``, ``job_resent``,
``start_resent``: :meth:`~services.queue.state.ExperimentStateStore.add_event`), so a lost worker
shows on the experiment, not only in the log of the worker that swept.

A duplicate of a job that does run after all is harmless: it waits for the lease, or finds its
outputs and skips; a duplicate start of a running experiment is a no-op.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from celery import bootsteps

from services.queue.jobrunner import Sender
from services.queue.leases import lease_key, leased
from services.queue.queues import prune_running
from services.queue.redis_keys import UNACKED, UNACKED_INDEX, queue_lists
from services.queue.runbook import RunBook, current_run, run_store_url
from services.queue.state import ACTIVE, ExperimentRecord
from services.queue.tasknames import CANCEL_EXPERIMENT, QUEUES, RUN_EXPERIMENT, RUN_JOB
from services.queue.workercontext import WorkerContext

log = logging.getLogger(__name__)

#: Sends a start of an experiment: ``(exp_id, store_url)``.
Starter = Callable[[str, str | None], None]
#: Restores an unacknowledged message to its queue by delivery tag.
Restorer = Callable[[str], None]


@dataclass(frozen=True)
class BrokerMessage:
    """A message of one of our tasks in the broker: waiting in a queue, or delivered (``tag``)."""

    task: str
    exp_id: str
    job_id: str | None = None
    tag: str | None = None
    delivered_at: float | None = None

    @property
    def unacked(self) -> bool:
        return self.tag is not None


def _parse(msg: Any) -> tuple[str, list[Any]] | None:
    try:
        task = msg["headers"]["task"]
        body = msg["body"]
        if msg.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body).decode()
        args = json.loads(body)[0]
    except (ValueError, TypeError, IndexError, KeyError, AttributeError):
        return None
    return (task, args) if isinstance(task, str) and isinstance(args, list) else None


def _message(msg: Any, *, tag: str | None = None, delivered_at: float | None = None) -> BrokerMessage | None:
    parsed = _parse(msg)
    if parsed is None:
        return None
    task, args = parsed
    try:
        if task == RUN_JOB:
            return BrokerMessage(task, str(args[0]), str(args[2]["id"]), tag, delivered_at)
        if task in (RUN_EXPERIMENT, CANCEL_EXPERIMENT):
            return BrokerMessage(task, str(args[0]), None, tag, delivered_at)
    except (TypeError, IndexError, KeyError):
        return None
    return None


def restore_message(r: Any, tag: str) -> bool:
    """Put the unacknowledged message ``tag`` back at the head of its queue (marked redelivered) and
    forget its delivery, atomically (a WATCHed transaction: two sweeps never restore it twice).
    Celery's exchanges are direct, one per queue, so the routing key names the queue. True when
    restored."""
    restored: list[bool] = []

    def transaction(pipe: Any) -> None:
        raw = pipe.hget(UNACKED, tag)
        pipe.multi()
        pipe.hdel(UNACKED, tag)
        pipe.zrem(UNACKED_INDEX, tag)
        if raw:
            message, exchange, routing_key = json.loads(raw)
            for where in (message.get("headers"), message.get("properties", {}).get("delivery_info")):
                if isinstance(where, dict):
                    where["redelivered"] = True
            pipe.rpush(routing_key or exchange, json.dumps(message))  # kombu pops from the right: next out
            restored.append(True)

    r.transaction(transaction, UNACKED)
    return bool(restored)


def broker_messages(r: Any, queues: Iterable[str] = QUEUES) -> list[BrokerMessage]:
    """Our tasks' messages in the broker: waiting in ``queues`` (kombu's Redis lists, priority
    sub-queues included) or delivered and not acknowledged yet (with their delivery time)."""
    out: list[BrokerMessage] = []
    for q in queues:
        for key in queue_lists(q):  # the one definition of a queue's lists (services.queue.redis_keys)
            if r.type(key) == "list":
                for raw in r.lrange(key, 0, -1):
                    try:
                        found = _message(json.loads(raw))
                    except ValueError:
                        continue
                    if found is not None:
                        out.append(found)
    delivered = {str(tag): float(score) for tag, score in r.zrange(UNACKED_INDEX, 0, -1, withscores=True)}
    for tag, value in r.hgetall(UNACKED).items():  # [message, exchange, routing key]
        try:
            found = _message(json.loads(value)[0], tag=str(tag), delivered_at=delivered.get(str(tag), 0.0))
        except (ValueError, TypeError, IndexError, KeyError):
            continue
        if found is not None:
            out.append(found)
    return out


def queued_job_ids(r: Any, queues: Iterable[str] = QUEUES) -> set[str]:
    """Ids of the jobs that have a ``run_job`` message in the broker (waiting or unacknowledged)."""
    return {m.job_id for m in broker_messages(r, queues) if m.job_id is not None}


@dataclass
class SweepReport:
    """What one sweep did."""

    restored: list[BrokerMessage]
    resent: list[str]
    restarted: list[str]
    cancelled: list[str]


def _records(ctx: WorkerContext, states: Iterable[str]) -> list[ExperimentRecord]:
    wanted = set(states)
    out: list[ExperimentRecord] = []
    offset = 0
    while batch := ctx.state.list(limit=100, offset=offset):
        offset += len(batch)
        out += [rec for rec in batch if rec.state in wanted]
    return out


def sweep(ctx: WorkerContext, *, send: Sender, start: Starter, restore: Restorer, older_than: float,
          queues: Iterable[str] = QUEUES, now: float | None = None) -> SweepReport:
    """One sweep (see the module docstring); ``now`` for tests."""
    now = time.time() if now is None else now
    prefix = ctx.prefix
    report = SweepReport([], [], [], [])
    queues = tuple(queues)
    for job_id in prune_running(ctx.r, queues, prefix=prefix):
        log.warning("job %s: marked running but holds no lease (its worker died): mark dropped", job_id)
    messages = broker_messages(ctx.r, queues)
    stale = [m for m in messages if m.unacked and now - (m.delivered_at or 0.0) >= older_than]
    running = set(leased(ctx.r, {m.job_id for m in stale if m.job_id is not None}, prefix=prefix))
    for m in stale:
        if m.job_id is not None and m.job_id in running:
            continue  # a second delivery waiting for the running one's lease
        assert m.tag is not None
        log.warning("experiment %s: %s%s was delivered %.0f s ago and nothing runs it (its worker died): "
                    "restoring the message to its queue", m.exp_id, m.task, f" of job {m.job_id}" if m.job_id else "",
                    now - (m.delivered_at or 0.0))
        restore(m.tag)
        report.restored.append(m)
        lost = f"its worker was lost: delivered {now - (m.delivered_at or 0.0):.0f} s ago and not running"
        if m.job_id is not None:
            ctx.state.add_event(m.exp_id, "job_restored", job=m.job_id, reason=lost)
        elif m.task == RUN_EXPERIMENT:
            ctx.state.add_event(m.exp_id, "start_restored", reason=lost)
    present_jobs = {m.job_id for m in messages if m.job_id is not None}
    present_starts = {m.exp_id for m in messages if m.task == RUN_EXPERIMENT}

    for rec in _records(ctx, ACTIVE):
        run = current_run(ctx.r, rec.id, prefix=prefix)
        if rec.state == "CANCELLING":
            book_jobs = RunBook(ctx.r, rec.id, run, prefix=prefix).job_ids() if run is not None else []
            if not leased(ctx.r, book_jobs, prefix=prefix):
                ctx.state.set_state(rec.id, "CANCELLED")
                log.warning("experiment %s: cancelled (none of its jobs runs any more)", rec.id)
                report.cancelled.append(rec.id)
            continue
        if rec.state == "PENDING":
            if rec.id not in present_starts and now - rec.updated_at >= older_than:
                log.warning("experiment %s: PENDING for %.0f s with no start message in the broker: starting it "
                            "again", rec.id, now - rec.updated_at)
                start(rec.id, run_store_url(ctx.r, rec.id, prefix=prefix))
                report.restarted.append(rec.id)
                ctx.state.add_event(rec.id, "start_resent", reason="its start message was lost")
            continue
        if run is None:
            continue
        book = RunBook(ctx.r, rec.id, run, prefix=prefix)
        for job_id in book.silent_since(older_than, now=now):
            if job_id in present_jobs or ctx.r.exists(lease_key(job_id, prefix=prefix)):
                continue
            job = book.job(job_id)
            store_url = run_store_url(ctx.r, book.exp_id, prefix=prefix)
            token = book.sender(job_id)
            if job is None or not store_url or token is None or not book.claim(job_id, token):
                continue
            log.warning("experiment %s: job %s (%s) was sent %.0f s ago or more and has no message left in the "
                        "broker: sending it again", book.exp_id, job_id, job["kind"], older_than)
            send(book.exp_id, book.run, job, store_url, token)
            report.resent.append(job_id)
            ctx.state.add_event(book.exp_id, "job_resent", job=job_id, reason="its message was lost")
    return report


def lost_job_bootstep(send: Sender, start: Starter, context: Callable[[], WorkerContext]) -> type:
    """A worker bootstep running :func:`sweep` on the worker's timer (main process)."""

    def restore(tag: str) -> None:
        restore_message(context().r, tag)

    class LostJobSweep(bootsteps.StartStopStep):
        requires = {"celery.worker.components:Timer"}

        def __init__(self, worker: Any, **kwargs: Any) -> None:
            super().__init__(worker, **kwargs)
            self.tref: Any = None

        def start(self, worker: Any) -> None:
            every = max(0.5, context().settings.lost_job_seconds / 4)
            self.tref = worker.timer.call_repeatedly(every, self.tick, priority=10)

        def stop(self, worker: Any) -> None:
            if self.tref is not None:
                self.tref.cancel()
                self.tref = None

        def tick(self) -> None:
            try:
                ctx = context()
                sweep(ctx, send=send, start=start, restore=restore, older_than=ctx.settings.lost_job_seconds)
            except Exception as exc:  # a sweep must never take the worker down; the next one retries
                log.warning("lost-job sweep failed: %s: %s", type(exc).__name__, exc)

    return LostJobSweep
