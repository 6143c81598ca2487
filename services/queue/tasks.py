"""The Celery tasks of the workers, registered by name on an app (:func:`register_tasks`).

``taskonomy.control.run_experiment(experiment_id)`` (sent by name by the gateway or ``taskonomy
submit``) reads the spec from the experiment state store, builds the job graph, records it in
Redis (:mod:`services.queue.runbook`) and sends every job without dependencies to its queue.
Each ``taskonomy.run_job`` runs one job under a lease (:mod:`services.queue.leases`) and then
sends the jobs that became ready (:class:`services.queue.jobrunner.JobRunner`). A finished
``plan_higher_order`` job extends the recorded graph with the higher-order transfers it chose
before its dependants are examined.

Delivery is at least once (acks_late, reject on worker lost), so everything is idempotent:

- a job whose outputs exist (and verify against their checksums) is skipped; a corrupt output
  is deleted and recomputed;
- a second delivery of a running job waits for its lease instead of running concurrently;
- a job that reads a corrupt input deletes it and sends the input's producer again; it is sent
  again itself when the producer finishes;
- a job whose message went down with a killed worker (unacknowledged, or lost outright) is
  restored or sent again by the lost-job sweep (:mod:`services.queue.lostjobs`), which also
  finishes the cancel of an experiment whose jobs died.

A worker told to stop (SIGTERM: Celery's cold shutdown, see
:func:`services.queue.celery_app.run_worker`) hands its running job back to the queue after a
short grace period instead of finishing it (:func:`_stopping`).

A finished or failed run copies the record into the store as ``experiments/<id>/record.json``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Celery, Task
from celery.exceptions import TimeLimitExceeded
from celery.signals import task_failure

from services.queue.heartbeats import heartbeat_bootstep
from services.queue.jobmetrics import record_job
from services.queue.jobrunner import (
    JobRunner,
    execute,
    graph_jobs,
    is_transient,
    open_store,
    start_run,
    store_fault,
)
from services.queue.leases import Lease, lease_key
from services.queue.lostjobs import lost_job_bootstep
from services.queue.queues import RunningMark
from services.queue.runbook import JobDict, RunBook, current_run, run_store_url
from services.queue.settings import load_worker_settings
from services.queue.state import TERMINAL
from services.queue.submission import cancel_experiment
from services.queue.tasknames import CANCEL_EXPERIMENT, CONTROL_QUEUE, RUN_EXPERIMENT, RUN_JOB
from services.queue.workercontext import worker_context
from taskonomy.errors import CorruptArtifactError, InvalidInputError, NotFoundError, PreconditionError, TaskonomyError

log = logging.getLogger(__name__)

#: Starts of one job whose process died (OOM, kill -9) tolerated beyond its transient-error retries.
MAX_WORKER_LOSSES = 3


def _stopping(exc: SystemExit) -> bool:
    """True when this pool process is being terminated by its worker's shutdown: billiard's handler
    of the termination signal raises SystemExit(-(256 - signal)) through the running job, so its
    ``finally`` blocks release the lease and the running mark; the message, not acknowledged
    (``acks_late``), goes back to the queue and another worker runs the job (idempotent,
    content-addressed)."""
    from billiard import common

    fired = getattr(common, "terminate_handler_fired", None)  # billiard >= 4.3
    if fired is not None:
        return bool(fired())
    return isinstance(exc.code, int) and exc.code < 0


class TransientJobError(Exception):
    """A job's transient storage or broker error, retried by Celery (``autoretry_for``)."""


class JobTask(Task):
    """The job task's retry policy, Celery's own: a :class:`TransientJobError` is retried with
    exponential backoff (``retry_backoff`` seconds, doubling, at most ``retry_backoff_max``) up to
    ``max_retries`` times, all from the worker settings (read when the worker starts)."""

    autoretry_for = (TransientJobError,)
    retry_jitter = False

    @property
    def max_retries(self) -> int:
        return load_worker_settings().max_retries

    @property
    def retry_backoff(self) -> int:
        return load_worker_settings().retry_backoff

    @property
    def retry_backoff_max(self) -> int:
        return load_worker_settings().retry_backoff_max


def register_tasks(app: Celery) -> None:
    """Define the tasks on ``app`` (called by :func:`services.queue.celery_app.create_app`)."""

    def send(exp_id: str, run: int, job: JobDict, store_url: str, token: str) -> None:
        app.send_task(RUN_JOB, args=[exp_id, run, job, store_url], queue=job["queue"])

    def start(exp_id: str, store_url: str | None) -> None:
        app.send_task(RUN_EXPERIMENT, args=[exp_id], kwargs={"store_url": store_url}, queue=CONTROL_QUEUE)

    @app.task(name=RUN_JOB, base=JobTask, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def run_job_task(self: Any, exp_id: str, run: int, job: JobDict, store_url: str) -> str:
        ctx = worker_context()
        token = str(self.request.id)
        runner = JobRunner(ctx, send=send)
        if current_run(ctx.r, exp_id, prefix=ctx.prefix) != run:
            return "superseded"
        book = RunBook(ctx.r, exp_id, run, prefix=ctx.prefix)
        if runner.cancelled(exp_id):
            record_job(ctx.r, kind=job["kind"], outcome="cancelled", seconds=0.0, prefix=ctx.prefix)
            return "cancelled"
        lease = Lease(ctx.r, lease_key(job["id"], prefix=ctx.prefix), seconds=ctx.settings.lease_seconds)
        if not lease.acquire():  # the same job runs elsewhere: look again once its lease could have lapsed
            app.send_task(RUN_JOB, args=[exp_id, run, job, store_url], queue=job["queue"],
                          countdown=min(5.0, ctx.settings.lease_seconds / 2), task_id=token)
            return "waiting"
        attempts = book.attempt(job["id"])
        mark = RunningMark(ctx.r, job["queue"], job["id"], prefix=ctx.prefix)
        if attempts > ctx.settings.max_retries + MAX_WORKER_LOSSES:
            lease.release()
            runner.fail(book, job, f"job {job['id']} ({job['kind']}) was started {attempts - 1} times without "
                                   "finishing (its worker process died each time: out of memory?)")
            return "failed"
        try:
            store = ctx.store(store_url)
        except TaskonomyError as exc:  # an unsupported store URL (a message not sent by us)
            lease.release()
            runner.fail(book, job, f"job {job['id']} ({job['kind']}): {exc}")
            return "failed"
        t0 = time.perf_counter()
        try:
            mark.add()
            try:
                executed = execute(job, store, ctx)
                if job["kind"] == "finalize" and job["kind"] not in ctx.job_kinds and ctx.settings.reports:
                    runner.publish_report(book, job, store, executed=executed)
            except SystemExit as exc:
                if _stopping(exc):  # the worker's cold shutdown (SIGTERM): hand the job back, unfinished
                    book.unattempt(job["id"])
                    log.warning("job %s: the worker stops; the job goes back to its queue", job["id"])
                raise
            finally:
                mark.remove()
                lease.release()
        except (CorruptArtifactError, PreconditionError, NotFoundError) as exc:
            # a corrupt input is recomputed by re-sending the job that produces it
            if isinstance(exc, CorruptArtifactError) and runner.recompute_inputs(book, job, store, store_url, token):
                return "requeued"
            if runner.inputs_pending(book, job, store):  # an input is being recomputed: come back later
                app.send_task(RUN_JOB, args=[exp_id, run, job, store_url], queue=job["queue"], countdown=2.0,
                              task_id=token)
                return "waiting"
            runner.fail(book, job, f"job {job['id']} ({job['kind']}) failed: {exc}")
            record_job(ctx.r, kind=job["kind"], outcome="failed", seconds=time.perf_counter() - t0, prefix=ctx.prefix)
            return "failed"
        except Exception as exc:
            seconds = time.perf_counter() - t0
            if is_transient(exc) and self.request.retries < ctx.settings.max_retries:
                log.warning("job %s: transient error (%s), retry %d of %d", job["id"], exc, self.request.retries + 1,
                            ctx.settings.max_retries)
                ctx.state.add_event(exp_id, "job_retried", job=job["id"], retry=self.request.retries + 1,
                                    error=f"{type(exc).__name__}: {exc}"[:500])
                raise TransientJobError(f"{type(exc).__name__}: {exc}") from exc  # autoretry_for: Celery retries
            retried = f" after {self.request.retries} retries" if self.request.retries else ""
            reason = store_fault(exc) or f"{type(exc).__name__}: {exc}"
            runner.fail(book, job, f"job {job['id']} ({job['kind']}) failed{retried}: {reason}")
            record_job(ctx.r, kind=job["kind"], outcome="failed", seconds=seconds, prefix=ctx.prefix)
            return "failed"
        seconds = time.perf_counter() - t0
        record_job(ctx.r, kind=job["kind"], outcome="executed" if executed else "skipped", seconds=seconds,
                   prefix=ctx.prefix)
        try:
            runner.finished(book, job, executed=executed, store_url=store_url, token=token)
        except Exception as exc:
            if is_transient(exc):  # the job is done (its outputs exist): redo only the bookkeeping
                raise self.retry(exc=exc, countdown=ctx.settings.retry_backoff, max_retries=None) from None
            runner.fail(book, job, f"after job {job['id']} ({job['kind']}): {type(exc).__name__}: {exc}")
            return "failed"
        return "executed" if executed else "skipped"

    @app.task(name=RUN_EXPERIMENT, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def run_experiment_task(self: Any, exp_id: str, store_url: str | None = None) -> str:
        ctx = worker_context()
        rec = ctx.state.get(exp_id)
        if rec is None:
            log.error("run_experiment: no experiment %s", exp_id)
            return "unknown"
        if rec.cancel_requested:
            if rec.state not in TERMINAL:
                ctx.state.set_state(exp_id, "CANCELLED")
            return "cancelled"
        if rec.state in TERMINAL:  # a duplicate delivery of a finished experiment's start
            return rec.state.lower()
        url = store_url or run_store_url(ctx.r, exp_id, prefix=ctx.prefix) or ctx.settings.store_url
        if not url:
            ctx.state.set_state(exp_id, "FAILED", error="no artifact store: submit with a store URL or set "
                                                        "TASKONOMY_STORE_URL on the workers")
            return "failed"
        try:
            jobs, deps, results = graph_jobs(rec.spec, ctx)
        except (InvalidInputError, NotFoundError, PreconditionError) as exc:
            ctx.state.set_state(exp_id, "FAILED", error=f"invalid experiment spec: {exc}")
            return "failed"
        try:
            open_store(ctx, exp_id, rec.spec, url)
        except TaskonomyError as exc:  # the store's scheme, reachability or permissions
            ctx.state.set_state(exp_id, "FAILED", error=str(exc))
            log.error("experiment %s FAILED: %s", exp_id, exc)
            return "failed"
        try:
            start_run(ctx, exp_id, jobs, deps, store_url=url, token=str(self.request.id), results=results, send=send)
        except Exception as exc:
            if is_transient(exc):
                raise self.retry(exc=exc, countdown=1.0, max_retries=None) from None
            raise
        return "started"

    @app.task(name=CANCEL_EXPERIMENT, ignore_result=True)
    def cancel_experiment_task(exp_id: str) -> str:
        return cancel_experiment(worker_context().state, exp_id)

    def on_task_failure(sender: Any = None, exception: BaseException | None = None, args: Any = None,
                        **_: Any) -> None:
        """A hard time limit kills the pool process: the task never reports, so the worker's main
        process (which runs this hook) marks the experiment FAILED."""
        if getattr(sender, "name", None) != RUN_JOB or not isinstance(exception, TimeLimitExceeded):
            return
        exp_id, run, job, _store_url = args
        ctx = worker_context()
        if current_run(ctx.r, exp_id, prefix=ctx.prefix) != run:
            return
        book = RunBook(ctx.r, exp_id, run, prefix=ctx.prefix)
        JobRunner(ctx, send=send).fail(book, job, f"job {job['id']} ({job['kind']}) exceeded the hard time limit "
                                                  f"of {ctx.settings.time_limit:g} s and was killed")
        record_job(ctx.r, kind=job["kind"], outcome="failed", seconds=ctx.settings.time_limit, prefix=ctx.prefix)

    task_failure.connect(on_task_failure, weak=False, dispatch_uid=f"taskonomy-task-failure-{id(app)}")
    app.steps["worker"].add(lost_job_bootstep(send, start, worker_context))
    app.steps["worker"].add(heartbeat_bootstep(worker_context))
    _ = (run_job_task, run_experiment_task, cancel_experiment_task)
