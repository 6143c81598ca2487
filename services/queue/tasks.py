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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery import Celery, Task
from celery.exceptions import TimeLimitExceeded
from celery.signals import task_failure

from services.queue.heartbeats import heartbeat_bootstep
from services.queue.job_metrics import record_job
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
from services.queue.workerstore import WorkerStore
from taskonomy.contract import JobKind
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


def send_job(app: Celery, exp_id: str, run: int, job: JobDict, store_url: str, *, countdown: float | None = None,
             task_id: str | None = None) -> None:
    """The one place a ``taskonomy.run_job`` message is sent, to the job's queue: a job's first send,
    or (``task_id`` = the delivery's own id, after ``countdown`` seconds) a delivery sent again."""
    app.send_task(RUN_JOB, args=[exp_id, run, job, store_url], queue=job["queue"], countdown=countdown,
                  task_id=task_id)


def job_sender(app: Celery) -> Callable[[str, int, JobDict, str, str], None]:
    """:func:`send_job` as the job runner and the lost-job sweep call it (they pass the sending
    delivery's token too, which a first send does not use)."""
    def send(exp_id: str, run: int, job: JobDict, store_url: str, _token: str) -> None:
        send_job(app, exp_id, run, job, store_url)

    return send


@dataclass(frozen=True)
class Outcome:
    """How one delivery of a job ends: the task's return value and what is done on the way out,
    in this order, by :meth:`JobDelivery.settle`."""

    #: the task's result: executed, skipped, failed, cancelled, waiting, requeued, superseded
    status: str
    #: fail the experiment with this message
    failure: str | None = None
    #: record the job in the job metrics with this outcome (:data:`services.queue.job_metrics.OUTCOMES`)...
    metric: str | None = None
    #: ...and this duration
    seconds: float = 0.0
    #: send this very message again (same task id) after this many seconds
    resend_in: float | None = None


class JobDelivery:
    """One delivery of a ``taskonomy.run_job`` message: the checks before the job, the job under its
    lease (:meth:`run`), the bookkeeping after it; every way out is an :class:`Outcome` settled in one
    place (:meth:`settle`). ``task`` is the bound Celery task (its id, retries and ``retry``)."""

    def __init__(self, app: Celery, task: Any, exp_id: str, run: int, job: JobDict, store_url: str) -> None:
        self.app = app
        self.task = task
        self.ctx = worker_context()
        self.exp_id, self.run_no, self.job, self.store_url = exp_id, run, job, store_url
        self.token = str(task.request.id) if task is not None else ""
        self.runner = JobRunner(self.ctx, send=job_sender(app))
        self.book = RunBook(self.ctx.r, exp_id, run, prefix=self.ctx.prefix)
        self.what = f"job {job['id']} ({job['kind']})"

    def superseded(self) -> bool:
        """True when the experiment was re-run since this job was sent (its run is not the current one)."""
        return current_run(self.ctx.r, self.exp_id, prefix=self.ctx.prefix) != self.run_no

    def settle(self, outcome: Outcome) -> str:
        """Fail the experiment, record the job's metrics, send the message again: what ``outcome``
        asks, in this order; returns its status."""
        if outcome.failure is not None:
            self.runner.fail(self.book, self.job, outcome.failure)
        if outcome.metric is not None:
            record_job(self.ctx.r, kind=self.job["kind"], outcome=outcome.metric, seconds=outcome.seconds,
                       prefix=self.ctx.prefix)
        if outcome.resend_in is not None:
            send_job(self.app, self.exp_id, self.run_no, self.job, self.store_url, countdown=outcome.resend_in,
                     task_id=self.token)
        return outcome.status

    def run(self) -> str:
        """Run the job once (see the module docstring); returns the task's result."""
        ctx, job = self.ctx, self.job
        if self.superseded():
            return self.settle(Outcome("superseded"))
        if self.runner.cancelled(self.exp_id):
            return self.settle(Outcome("cancelled", metric="cancelled"))
        lease = Lease(ctx.r, lease_key(job["id"], prefix=ctx.prefix), seconds=ctx.settings.lease_seconds)
        if not lease.acquire():  # the same job runs elsewhere: look again once its lease could have lapsed
            return self.settle(Outcome("waiting", resend_in=min(5.0, ctx.settings.lease_seconds / 2)))
        attempts = self.book.attempt(job["id"])
        if attempts > ctx.settings.max_retries + MAX_WORKER_LOSSES:
            lease.release()
            return self.settle(Outcome("failed", failure=f"{self.what} was started {attempts - 1} times without "
                                                         "finishing (its worker process died each time: out of "
                                                         "memory?)"))
        try:
            store = ctx.store(self.store_url)
        except TaskonomyError as exc:  # an unsupported store URL (a message not sent by us)
            lease.release()
            return self.settle(Outcome("failed", failure=f"{self.what}: {exc}"))
        t0 = time.perf_counter()
        try:
            executed = self._execute(store, lease)
        except (CorruptArtifactError, PreconditionError, NotFoundError) as exc:
            return self.settle(self._input_problem(exc, store, t0))
        except Exception as exc:
            return self.settle(self._error(exc, time.perf_counter() - t0))
        status = "executed" if executed else "skipped"
        self.settle(Outcome(status, metric=status, seconds=time.perf_counter() - t0))
        return self.settle(self._bookkeeping(executed, status))

    def _execute(self, store: WorkerStore, lease: Lease) -> bool:
        """The job (and, after finalize, the experiment's report) under its lease, marked running;
        both released however it ends. A worker's cold shutdown hands the job back unfinished."""
        ctx, job = self.ctx, self.job
        mark = RunningMark(ctx.r, job["queue"], job["id"], prefix=ctx.prefix)
        mark.add()
        try:
            executed = execute(job, store, ctx)
            if job["kind"] == JobKind.FINALIZE and job["kind"] not in ctx.job_kinds and ctx.settings.reports:
                self.runner.publish_report(self.book, job, store, executed=executed)
            return executed
        except SystemExit as exc:
            if _stopping(exc):  # the worker's cold shutdown (SIGTERM): hand the job back, unfinished
                self.book.unattempt(job["id"])
                log.warning("job %s: the worker stops; the job goes back to its queue", job["id"])
            raise
        finally:
            mark.remove()
            lease.release()

    def _input_problem(self, exc: TaskonomyError, store: WorkerStore, t0: float) -> Outcome:
        """A corrupt input is recomputed by re-sending the job that produces it; an input being
        recomputed is waited for; anything else fails the experiment."""
        if isinstance(exc, CorruptArtifactError) and self.runner.recompute_inputs(
                self.book, self.job, store, self.store_url, self.token):
            return Outcome("requeued")
        if self.runner.inputs_pending(self.book, self.job, store):  # an input is being recomputed: come back later
            return Outcome("waiting", resend_in=2.0)
        return Outcome("failed", failure=f"{self.what} failed: {exc}", metric="failed",
                       seconds=time.perf_counter() - t0)

    def _error(self, exc: Exception, seconds: float) -> Outcome:
        """A transient error is retried by Celery (raises :class:`TransientJobError`) until the
        retries are spent; any other error, or the last one, fails the experiment."""
        ctx, job, retries = self.ctx, self.job, self.task.request.retries
        if is_transient(exc) and retries < ctx.settings.max_retries:
            log.warning("job %s: transient error (%s), retry %d of %d", job["id"], exc, retries + 1,
                        ctx.settings.max_retries)
            ctx.state.add_event(self.exp_id, "job_retried", job=job["id"], retry=retries + 1,
                                error=f"{type(exc).__name__}: {exc}"[:500])
            raise TransientJobError(f"{type(exc).__name__}: {exc}") from exc  # autoretry_for: Celery retries
        retried = f" after {retries} retries" if retries else ""
        reason = store_fault(exc) or f"{type(exc).__name__}: {exc}"
        return Outcome("failed", failure=f"{self.what} failed{retried}: {reason}", metric="failed", seconds=seconds)

    def _bookkeeping(self, executed: bool, status: str) -> Outcome:
        """After the job: its completion, the jobs it made ready, the experiment's end. The job is
        done (its outputs exist), so a transient error redoes only this."""
        try:
            self.runner.finished(self.book, self.job, executed=executed, store_url=self.store_url, token=self.token)
        except Exception as exc:
            if is_transient(exc):
                raise self.task.retry(exc=exc, countdown=self.ctx.settings.retry_backoff, max_retries=None) from None
            return Outcome("failed", failure=f"after {self.what}: {type(exc).__name__}: {exc}")
        return Outcome(status)


def register_tasks(app: Celery) -> None:
    """Define the tasks on ``app`` (called by :func:`services.queue.celery_app.create_app`)."""

    send = job_sender(app)

    def start(exp_id: str, store_url: str | None) -> None:
        app.send_task(RUN_EXPERIMENT, args=[exp_id], kwargs={"store_url": store_url}, queue=CONTROL_QUEUE)

    @app.task(name=RUN_JOB, base=JobTask, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def run_job_task(self: Any, exp_id: str, run: int, job: JobDict, store_url: str) -> str:
        return JobDelivery(app, self, exp_id, run, job, store_url).run()

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
        exp_id, run, job, store_url = args
        delivery = JobDelivery(app, None, exp_id, run, job, store_url)
        if delivery.superseded():
            return
        limit = delivery.ctx.settings.time_limit
        delivery.settle(Outcome("failed", failure=f"{delivery.what} exceeded the hard time limit of {limit:g} s "
                                                  "and was killed", metric="failed", seconds=limit))

    task_failure.connect(on_task_failure, weak=False, dispatch_uid=f"taskonomy-task-failure-{id(app)}")
    app.steps["worker"].add(lost_job_bootstep(send, start, worker_context))
    app.steps["worker"].add(heartbeat_bootstep(worker_context))
    _ = (run_job_task, run_experiment_task, cancel_experiment_task)
