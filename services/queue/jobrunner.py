"""Running one job of an experiment and the bookkeeping around it, apart from Celery.

:func:`execute` runs a job through the core (:func:`taskonomy.execution.run_job`) or a plugin job
kind (:mod:`services.queue.jobkinds`); :class:`JobRunner` records what happened in the run's book
(:mod:`services.queue.runbook`), sends the jobs that became ready, extends the graph after a
``plan_higher_order`` job, finishes or fails the experiment, and recomputes corrupt inputs;
:func:`start_run` records a new run and sends its roots. Sending is a callback, so the Celery
tasks (:mod:`services.queue.tasks`) and the tests decide how.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import redis

from services.queue.jobkinds import JobEnv
from services.queue.leases import leased
from services.queue.redis_keys import KeySchema
from services.queue.runbook import JobDict, RunBook, current_run, run_store_url, set_run_store_url
from services.queue.state import TERMINAL
from services.queue.workercontext import WorkerContext
from services.queue.workerstore import WorkerStore
from taskonomy.contract import FINAL_KINDS, ExperimentSpec, Job, JobKind, build_graph, report_key
from taskonomy.errors import TaskonomyError
from taskonomy.execution import run_job, validate_experiment
from taskonomy.modelbank import manifest, manifest_key
from taskonomy.store import ArtifactStore, check_store

log = logging.getLogger(__name__)

#: Sends one job: ``(exp_id, run, job, store_url, token)``.
Sender = Callable[[str, int, JobDict, str, str], None]


# -- graph from a spec ------------------------------------------------------------------------------

def graph_jobs(spec_data: Mapping[str, Any], ctx: WorkerContext | None = None
               ) -> tuple[list[JobDict], dict[str, list[str]], dict[str, Any]]:
    """Jobs (as JSON dicts), dependencies and result keys of an experiment spec (a plugin kind's
    spec when ``ctx`` loaded that kind)."""
    kind = ctx.job_kinds.get(str(spec_data.get("kind"))) if ctx is not None else None
    if kind is not None:
        jobs, deps = kind.graph(spec_data)
        return list(jobs), dict(deps), {}
    spec = ExperimentSpec.parse(dict(spec_data))
    validate_experiment(spec)  # the core's own checks before any work (task data, network and training settings)
    graph = build_graph(spec)
    out = [job.to_dict() for job in graph.order()]
    deps = {j["id"]: sorted(graph.deps(j["id"])) for j in out}
    results = dict(graph.results)
    if "table" in results:
        results["transfers"] = results["table"]
    return out, deps, results


def expansion(spec_data: Mapping[str, Any], plan_job: JobDict, plan: Any
              ) -> tuple[list[JobDict], dict[str, list[str]], list[str]]:
    """The jobs a finished plan job adds, their dependencies, and the finalize job ids they feed."""
    graph = build_graph(ExperimentSpec.parse(dict(spec_data)))
    added = graph.expand(Job.from_dict(plan_job), plan)
    jobs = [j.to_dict() for j in added]
    deps = {j.id: sorted(graph.deps(j.id) | {plan_job["id"]}) for j in added}
    finals = [j.id for j in graph.jobs.values() if j.kind in FINAL_KINDS]
    return jobs, deps, finals


def open_store(ctx: WorkerContext, exp_id: str, spec_data: Mapping[str, Any], url: str) -> WorkerStore:
    """The experiment's store, proven writable (:func:`taskonomy.store.check_store`), with the
    experiment's manifest written into it (``experiments/<id>/manifest.json``, as ``taskonomy run``
    writes it), so that ``taskonomy models list`` and ``taskonomy predict --experiment <id> --store
    URL`` read a worker-run experiment like a local one. Raises a TaskonomyError naming the store."""
    check_store(url)
    store = ctx.store(url)
    if str(spec_data.get("kind")) not in ctx.job_kinds:
        body = {**manifest(ExperimentSpec.parse(dict(spec_data)), store), "id": exp_id}
        data = json.dumps(body, sort_keys=True, indent=1).encode()
        # rewritten by every run (a task added keeps the id), so not through the write-once path
        ArtifactStore.put_bytes(store, manifest_key(exp_id), data)
    return store


# -- running one job --------------------------------------------------------------------------------

_TORCH_READY = False


def _ensure_torch_threads(n: int) -> None:
    global _TORCH_READY
    if not _TORCH_READY:
        import torch

        torch.set_num_threads(n)
        _TORCH_READY = True


def execute(job: JobDict, store: WorkerStore, ctx: WorkerContext) -> bool:
    """Run one job (corrupt outputs are dropped first); True when work was done."""
    for key in job["outputs"]:
        store.drop_if_corrupt(key)
    kind = ctx.job_kinds.get(job["kind"])
    if kind is not None:
        return kind.run(job, JobEnv(store=store, redis=ctx.r, prefix=ctx.prefix))
    _ensure_torch_threads(ctx.settings.torch_threads)
    return run_job(Job.from_dict(job), store)


#: S3 error codes worth retrying (throttling, a server error, a skewed clock).
_TRANSIENT_S3_CODES = frozenset({"SlowDown", "Throttling", "ServiceUnavailable", "InternalError", "RequestTimeout",
                                 "RequestTimeTooSkewed", "503", "500"})


#: errno values of store faults that retrying cannot heal: read-only file system, no permission.
_PERMANENT_ERRNOS = {errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
                     errno.EPERM: "operation not permitted"}
#: ENOSPC / EDQUOT are permanent while the file system stays this full (checked when they happen).
_FULL_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}
#: Free space below which a full file system is not expected to heal by itself.
FULL_BELOW_BYTES = 256 * 2**20


def _still_full(path: object) -> bool:
    """True when the file system holding ``path`` has under FULL_BELOW_BYTES free (or cannot be measured)."""
    probe = os.fspath(path) if isinstance(path, str | os.PathLike) else ""
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not probe:
        return True
    try:
        return shutil.disk_usage(probe).free < FULL_BELOW_BYTES
    except OSError:
        return True


def store_fault(exc: BaseException) -> str | None:
    """What is wrong with the store when ``exc`` is a fault no retry heals, else None: a read-only
    file system, no permission, a file system that is (still) full, a bucket that does not exist."""
    if isinstance(exc, OSError) and exc.errno in _PERMANENT_ERRNOS:
        what = _PERMANENT_ERRNOS[exc.errno]
    elif isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS and _still_full(exc.filename):
        what = f"{_FULL_ERRNOS[exc.errno]} (under {FULL_BELOW_BYTES // 2**20} MiB free)"
    elif isinstance(exc, FileNotFoundError) and "bucket" in str(exc).lower():
        what = "the bucket does not exist"
    else:
        return None
    where = f" at {exc.filename!r}" if isinstance(exc, OSError) and exc.filename else ""
    return f"the artifact store cannot be written: {what}{where} ({type(exc).__name__}: {exc}); fix the store, " \
           "then re-run"


def is_transient(exc: BaseException) -> bool:
    """Storage and broker errors worth retrying (network, S3 throttling), not caller mistakes nor
    store faults that no retry heals (:func:`store_fault`)."""
    if isinstance(exc, TaskonomyError):
        return False
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return True
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError | NotADirectoryError):
        return False
    if store_fault(exc) is not None:
        return False
    if isinstance(exc, OSError):  # includes ConnectionError, TimeoutError
        return True
    try:
        from botocore.exceptions import ClientError, HTTPClientError
        from botocore.exceptions import ConnectionError as BotoConnectionError

        if isinstance(exc, BotoConnectionError | HTTPClientError):
            return True
        if isinstance(exc, ClientError):
            return str(exc.response.get("Error", {}).get("Code", "")) in _TRANSIENT_S3_CODES
    except ImportError:  # an installation without S3 support
        pass
    try:
        import aiohttp

        if isinstance(exc, aiohttp.ClientError):
            return True
    except ImportError:
        pass
    return False


class JobRunner:
    """What ``taskonomy.run_job`` does, apart from Celery (retries and re-sends are callbacks)."""

    def __init__(self, ctx: WorkerContext, *, send: Sender) -> None:
        self.ctx = ctx
        self.send = send

    def dispatch(self, book: RunBook, candidates: Iterable[str], store_url: str, token: str) -> list[str]:
        """Send the ready jobs among ``candidates`` that this sender claims."""
        if self.cancelled(book.exp_id):
            return []
        sent = []
        for job_id in book.ready(candidates):
            job = book.job(job_id)
            if job is not None and book.claim(job_id, token):
                self.send(book.exp_id, book.run, job, store_url, token)
                sent.append(job_id)
        return sent

    def cancelled(self, exp_id: str) -> bool:
        """True when a cancel was asked or the experiment ended; a cancelled experiment none of
        whose jobs runs any more (holds a lease) becomes CANCELLED here."""
        rec = self.ctx.state.get(exp_id)
        if rec is None:
            return True
        if rec.cancel_requested and rec.state not in TERMINAL:
            run = current_run(self.ctx.r, exp_id, prefix=self.ctx.prefix)
            jobs = RunBook(self.ctx.r, exp_id, run, prefix=self.ctx.prefix).job_ids() if run is not None else []
            if not leased(self.ctx.r, jobs, prefix=self.ctx.prefix):
                self.ctx.state.set_state(exp_id, "CANCELLED")
            return True
        return rec.cancel_requested or rec.state in ("FAILED", "CANCELLED")

    def fail(self, book: RunBook, job: JobDict, message: str) -> None:
        """Fail the experiment with ``message`` (in Redis always; in the store's record when it can
        be written: a store that cannot be written must not hide the failure)."""
        if book.mark_failed(job["id"]):
            self.ctx.state.job_done(book.exp_id, job["stage"], failed=True)
        book.count("failed")
        self.record_in_store(book, state="FAILED", error=message)  # in the store before anyone sees it
        self.ctx.state.set_state(book.exp_id, "FAILED", error=message)
        log.error("experiment %s FAILED: %s", book.exp_id, message)

    def record_in_store(self, book: RunBook, store_url: str | None = None, *, state: str | None = None,
                        error: str | None = None) -> None:
        """Copy the experiment's record (state, per-stage progress, result, job counts) into the
        store as ``experiments/<id>/record.json``, so the store describes its runs without Redis.
        A store that cannot be written is logged, never raised: Redis holds the state."""
        url = store_url or run_store_url(self.ctx.r, book.exp_id, prefix=self.ctx.prefix)
        rec = self.ctx.state.get(book.exp_id)
        if not url or rec is None:
            return
        body = {**rec.to_dict(), "run": book.run, "jobs": book.stats()}
        if state is not None:
            body["state"] = state
        if error is not None:
            body["error"] = error
        try:
            data = json.dumps(body, sort_keys=True, indent=1).encode()
            # not content-addressed (rewritten by every run), so not through the write-once path
            ArtifactStore.put_bytes(self.ctx.store(url), f"experiments/{book.exp_id}/record.json", data)
        except Exception as exc:  # an invalid key segment, or a store that cannot be written
            log.warning("experiment %s: record not stored in %s: %s: %s", book.exp_id, url, type(exc).__name__, exc)

    def publish_report(self, book: RunBook, job: JobDict, store: WorkerStore, *, executed: bool) -> None:
        """After the finalize job: the experiment's report (``report.html``, figures, validity) into
        its store (:func:`taskonomy.run_outputs.publish_report`), as ``taskonomy run`` writes it beside
        its table; rewritten when finalize ran again. Store errors propagate like the job's own (retried
        or failing the experiment); a report that cannot be drawn is logged and the experiment still
        succeeds (its table and taxonomy exist): ``GET /v1/experiments/{id}/report`` then stays 404."""
        if not executed and store.exists(report_key(book.exp_id)):
            return
        rec = self.ctx.state.get(book.exp_id)
        if rec is None or not isinstance(rec.spec, dict):
            return
        from taskonomy.run_outputs import publish_report  # matplotlib and the report: only where a report is drawn

        try:
            publish_report(store, book.exp_id, spec=rec.spec, finalize_params=job["params"], stats=book.stats())
        except Exception as exc:
            if is_transient(exc) or store_fault(exc) is not None:
                raise
            log.warning("experiment %s: no report (%s: %s)", book.exp_id, type(exc).__name__, exc)

    def finished(self, book: RunBook, job: JobDict, *, executed: bool, store_url: str, token: str) -> None:
        """Bookkeeping after a job ran or was skipped: extend, count, send ready jobs, finish.

        A job of a superseded run (the experiment was re-run meanwhile) is only marked done in
        its own run's book: the experiment's progress and state belong to the new run.
        """
        ctx = self.ctx
        if current_run(ctx.r, book.exp_id, prefix=ctx.prefix) != book.run:
            book.mark_done(job["id"])
            return
        candidates = book.children(job["id"])
        if job["kind"] == JobKind.PLAN_HIGHER_ORDER:
            rec = ctx.state.get(book.exp_id)
            assert rec is not None
            plan = ctx.store(store_url).get_json(job["outputs"][0])
            new_jobs, deps, finals = expansion(rec.spec, job, plan)
            for stage, n in book.register(new_jobs, deps).items():
                ctx.state.add_stage_jobs(book.exp_id, stage, n)
            for f in finals:
                book.add_deps(f, [j["id"] for j in new_jobs])
            candidates = book.children(job["id"])
        if book.mark_done(job["id"]):
            ctx.state.job_done(book.exp_id, job["stage"])
            book.count("executed" if executed else "skipped")
        self.dispatch(book, candidates, store_url, token)
        if book.n_done() >= book.n_jobs() and book.claim_finish():
            rec = ctx.state.get(book.exp_id)
            if rec is not None and rec.state not in TERMINAL:
                results = {**book.results(), "jobs": book.stats(), "run": book.run, "store": store_url}
                if ctx.store(store_url).exists(report_key(book.exp_id)):
                    results["report"] = report_key(book.exp_id)
                ctx.state.set_result(book.exp_id, results)
                self.record_in_store(book, store_url, state="SUCCEEDED")  # in the store before anyone sees it
                ctx.state.set_state(book.exp_id, "SUCCEEDED")
                log.info("experiment %s SUCCEEDED (%s)", book.exp_id, results["jobs"])
            book.expire()

    def inputs_pending(self, book: RunBook, job: JobDict, store: WorkerStore) -> bool:
        """True when a missing input of ``job`` is produced by a job of this run not done yet
        (it was re-opened because its artifact was corrupt)."""
        missing = [k for k in job["inputs"] if not store.exists(k)]
        producers = [book.producer(k) for k in missing]
        return bool(missing) and all(p is not None and not book.is_done(p) for p in producers)

    def recompute_inputs(self, book: RunBook, job: JobDict, store: WorkerStore, store_url: str, token: str) -> bool:
        """After a CorruptArtifactError: drop corrupt inputs, re-send their producers. False if none found."""
        bad = [k for k in job["inputs"] if store.drop_if_corrupt(k)]
        producers = [p for p in (book.producer(k) for k in bad) if p]
        if not bad or len(producers) != len(bad):
            return False
        book.reopen(job["id"])
        for p in dict.fromkeys(producers):
            book.reopen(p)
            pjob = book.job(p)
            if pjob is not None and book.claim(p, token):
                self.send(book.exp_id, book.run, pjob, store_url, token)
        log.warning("job %s read corrupt input(s) %s: recomputing them first", job["id"], bad)
        return True


def start_run(ctx: WorkerContext, exp_id: str, jobs: list[JobDict], deps: Mapping[str, Iterable[str]], *,
              store_url: str, token: str, results: Mapping[str, Any], send: Sender) -> int:
    """Record a new run of ``exp_id`` with ``jobs`` and send its roots. Returns the run number."""
    r, prefix = ctx.r, ctx.prefix
    keys = KeySchema(prefix)
    run_key, token_key = keys.current_run(exp_id), keys.run_token(exp_id)
    if r.get(token_key) == token and r.get(run_key):  # this very message was delivered before
        run = int(r.get(run_key))
    else:
        run = int(r.incr(run_key))
        r.set(token_key, token)
    set_run_store_url(r, exp_id, store_url, prefix=prefix)
    book = RunBook(r, exp_id, run, prefix=prefix)
    book.set_results(results)
    for stage, n in book.register(jobs, deps).items():
        ctx.state.add_stage_jobs(exp_id, stage, n)
    ctx.state.set_state(exp_id, "RUNNING")
    JobRunner(ctx, send=send).dispatch(book, book.roots(), store_url, token)
    if book.n_jobs() == 0 and book.claim_finish():
        ctx.state.set_result(exp_id, {**dict(results), "jobs": {}, "run": run, "store": store_url})
        ctx.state.set_state(exp_id, "SUCCEEDED")
    return run
