"""The Celery executor: an experiment's job graph run by trainer and transfer workers over Redis.

The control task ``taskonomy.control.run_experiment(experiment_id)`` (sent by name by the
gateway or ``taskonomy submit``) reads the spec from the experiment state store, builds the
job graph (:func:`taskonomy.pipeline.build_graph`), records it in Redis and sends every job
without dependencies to its queue. Each ``taskonomy.run_job`` task runs one core job
(:func:`taskonomy.pipeline.run_job`) and then sends the jobs that became ready: the dependency
order of the graph is kept by the jobs themselves (the equivalent of chaining chords, but
stored in Redis, so it survives a Redis restart with AOF and needs no result backend). A
finished ``plan_higher_order`` job extends the recorded graph with the higher-order transfers
it chose before its dependants are examined.

Delivery is at least once (acks_late, reject on worker lost), so everything here is idempotent:

- a job whose outputs exist (and verify against their checksums) is skipped; a corrupt output
  is deleted and recomputed;
- a job holds a *lease* in Redis while it runs (renewed by a heartbeat thread); a second
  delivery of the same job waits for the lease instead of running concurrently, and a lease of
  a killed worker expires after ``lease_seconds`` — so every artifact is written once;
- completions are recorded in Redis sets (a redelivered completion counts once); sending a
  ready job is claimed with the sender's task id (``HSETNX``), so a redelivered sender re-sends
  what it claimed but two siblings never both send;
- a job that reads a corrupt input deletes it and sends the input's producer again; it is sent
  again itself when the producer finishes;
- a message can still be lost outright: kombu's Redis transport pops a message before it records
  it as unacknowledged, so a worker killed in between takes it along (celery/celery#7950). Every
  worker therefore sweeps, every quarter of ``lost_job_seconds`` (a bootstep on the worker's
  timer), for jobs sent that long ago that are neither done, nor leased, nor a message in any
  queue or among the unacknowledged ones, and sends them again (:func:`sweep_lost_jobs`).

Redis keys (``P`` = prefix, ``E`` = experiment id, ``R`` = run number), besides the state store's:
``P:exp:E:run`` (current run), ``P:exp:E:run_token``, ``P:exp:E:store`` (store URL), and per run
``P:run:E:R:`` + ``jobs`` (hash id → job JSON), ``deps:<id>`` / ``children:<id>`` (sets),
``producer`` (hash artifact key → job id), ``done``, ``counted``, ``failed`` (sets), ``sent``
(hash id → claiming task id), ``sent_at`` (hash id → when it was last sent), ``stats`` (hash
executed/skipped/...), ``results`` (JSON),
``finished`` (flag). Leases: ``P:lease:<job id>``. A finished or failed run copies the record into the
store as ``experiments/<id>/record.json``. Artifact write counts (``count_writes``):
``P:writes`` (hash key → writes).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.common.celery_app import CANCEL_EXPERIMENT, RUN_EXPERIMENT, RUN_JOB
from services.common.jobmetrics import record_job
from services.common.settings import WorkerSettings, load_worker_settings
from services.common.state import TERMINAL, ExperimentStateStore
from taskonomy.errors import CorruptArtifactError, InvalidInputError, NotFoundError, PreconditionError
from taskonomy.store import ArtifactStore

log = logging.getLogger(__name__)

#: Kind of the synthetic job used by the queue benchmark and the fault tests (sleep, then write
#: each output as a small JSON artifact; ``params.fail`` makes it raise, ``params.transient = n``
#: makes its first n attempts raise a transient storage error, ``params.stubborn`` ignores the soft
#: time limit).
NOOP = "noop"
#: Starts of one job whose process died (OOM, kill -9) tolerated beyond its transient-error retries.
MAX_WORKER_LOSSES = 3
#: How long finished runs' bookkeeping stays in Redis.
RUN_TTL_SECONDS = 7 * 24 * 3600

JobDict = dict[str, Any]
Sender = Callable[[JobDict], None]


# -- Redis with reconnects ------------------------------------------------------------------------

def redis_client(url: str) -> Any:
    """A decoded-response client that retries through a Redis restart (about 30 s of backoff)."""
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5, health_check_interval=5,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), 25),
        retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError])


# -- the run's bookkeeping in Redis ---------------------------------------------------------------

class RunBook:
    """One run of one experiment: its jobs, dependencies and completions, in Redis."""

    def __init__(self, r: Any, exp_id: str, run: int, *, prefix: str = "taskonomy") -> None:
        self.r = r
        self.exp_id = exp_id
        self.run = int(run)
        self.prefix = prefix
        self.base = f"{prefix}:run:{exp_id}:{self.run}"

    def _k(self, suffix: str) -> str:
        return f"{self.base}:{suffix}"

    # registration
    def register(self, jobs: Iterable[JobDict], deps: Mapping[str, Iterable[str]]) -> dict[str, int]:
        """Record jobs (``HSETNX``: idempotent) and their dependencies; returns new jobs per stage."""
        new_per_stage: dict[str, int] = {}
        jobs = list(jobs)
        pipe = self.r.pipeline(transaction=False)
        for job in jobs:
            pipe.hsetnx(self._k("jobs"), job["id"], json.dumps(job, sort_keys=True))
        added = pipe.execute()
        pipe = self.r.pipeline(transaction=False)
        for job, was_added in zip(jobs, added, strict=True):
            if was_added:
                new_per_stage[job["stage"]] = new_per_stage.get(job["stage"], 0) + 1
            for out in job["outputs"]:
                pipe.hsetnx(self._k("producer"), out, job["id"])
            for d in deps.get(job["id"], ()):
                pipe.sadd(self._k(f"deps:{job['id']}"), d)
                pipe.sadd(self._k(f"children:{d}"), job["id"])
        pipe.execute()
        return new_per_stage

    def add_deps(self, job_id: str, deps: Iterable[str]) -> None:
        deps = list(deps)
        if not deps:
            return
        pipe = self.r.pipeline(transaction=False)
        pipe.sadd(self._k(f"deps:{job_id}"), *deps)
        for d in deps:
            pipe.sadd(self._k(f"children:{d}"), job_id)
        pipe.execute()

    def job(self, job_id: str) -> JobDict | None:
        raw = self.r.hget(self._k("jobs"), job_id)
        return json.loads(raw) if raw else None

    def job_ids(self) -> list[str]:
        return list(self.r.hkeys(self._k("jobs")))

    def producer(self, key: str) -> str | None:
        value = self.r.hget(self._k("producer"), key)
        return str(value) if value else None

    # completion and dispatch
    def mark_done(self, job_id: str) -> bool:
        """Record a completion; True the first time this job is counted in this run."""
        pipe = self.r.pipeline(transaction=True)
        pipe.sadd(self._k("done"), job_id)
        pipe.sadd(self._k("counted"), job_id)
        _, first = pipe.execute()
        return bool(first)

    def is_done(self, job_id: str) -> bool:
        return bool(self.r.sismember(self._k("done"), job_id))

    def ready(self, candidates: Iterable[str]) -> list[str]:
        """Candidates not done whose dependencies are all done."""
        out = []
        for c in dict.fromkeys(candidates):
            if self.r.sismember(self._k("done"), c):
                continue
            deps = list(self.r.smembers(self._k(f"deps:{c}")))
            if deps and not all(self.r.smismember(self._k("done"), deps)):
                continue
            out.append(c)
        return out

    def children(self, job_id: str) -> list[str]:
        return sorted(self.r.smembers(self._k(f"children:{job_id}")))

    def roots(self) -> list[str]:
        return [j for j in self.job_ids() if not self.r.exists(self._k(f"deps:{j}"))]

    def claim(self, job_id: str, token: str) -> bool:
        """Claim the sending of ``job_id``; a redelivered claimer (same token) claims again."""
        if self.r.hsetnx(self._k("sent"), job_id, token) or self.r.hget(self._k("sent"), job_id) == token:
            self.r.hset(self._k("sent_at"), job_id, repr(time.time()))
            return True
        return False

    def sender(self, job_id: str) -> str | None:
        """The task id that claimed the sending of ``job_id``, if any."""
        value = self.r.hget(self._k("sent"), job_id)
        return str(value) if value else None

    def silent_since(self, older_than: float, now: float | None = None) -> list[str]:
        """Jobs sent at least ``older_than`` seconds ago that are not done (candidates for a lost message)."""
        now = time.time() if now is None else now
        sent_at = self.r.hgetall(self._k("sent_at"))
        old = [j for j, t in sent_at.items() if now - float(t) >= older_than]
        if not old:
            return []
        done = self.r.smismember(self._k("done"), old)
        return [j for j, d in zip(old, done, strict=True) if not d]

    def reopen(self, job_id: str) -> None:
        """Make a job runnable again (its output was corrupt)."""
        pipe = self.r.pipeline(transaction=True)
        pipe.srem(self._k("done"), job_id)
        pipe.hdel(self._k("sent"), job_id)
        pipe.hdel(self._k("sent_at"), job_id)
        pipe.execute()

    def n_jobs(self) -> int:
        return int(self.r.hlen(self._k("jobs")))

    def n_done(self) -> int:
        return int(self.r.scard(self._k("done")))

    def count(self, outcome: str) -> None:
        self.r.hincrby(self._k("stats"), outcome, 1)

    def stats(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.r.hgetall(self._k("stats")).items()}

    def attempt(self, job_id: str) -> int:
        """Count a start of ``job_id`` (lease acquired); returns the number of starts so far."""
        return int(self.r.hincrby(self._k("attempts"), job_id, 1))

    def mark_failed(self, job_id: str) -> bool:
        return bool(self.r.sadd(self._k("failed"), job_id))

    def claim_finish(self) -> bool:
        return bool(self.r.set(self._k("finished"), "1", nx=True))

    def set_results(self, results: Mapping[str, Any]) -> None:
        self.r.set(self._k("results"), json.dumps(dict(results), sort_keys=True))

    def results(self) -> dict[str, Any]:
        raw = self.r.get(self._k("results"))
        return dict(json.loads(raw)) if raw else {}

    def expire(self, seconds: int = RUN_TTL_SECONDS) -> None:
        for key in self.r.scan_iter(match=f"{self.base}:*", count=500):
            self.r.expire(key, seconds)


def current_run(r: Any, exp_id: str, *, prefix: str = "taskonomy") -> int | None:
    value = r.get(f"{prefix}:exp:{exp_id}:run")
    return int(value) if value else None


# -- leases -----------------------------------------------------------------------------------------

_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


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


# -- the worker's artifact store ----------------------------------------------------------------

class WorkerStore(ArtifactStore):
    """The artifact store as a worker uses it: write-once, and optionally counting writes.

    ``put_bytes`` of a key that already holds the same bytes (content-addressed keys: same key,
    same content) writes nothing, so a job re-run after losing its process half-way through its
    outputs does not write the finished ones twice. With ``count_writes`` every real write is
    counted in Redis (``P:writes``), which the fault tests read.
    """

    def __init__(self, url: str, *, r: Any = None, count_writes: bool = False, prefix: str = "taskonomy") -> None:
        super().__init__(url)
        self._r = r
        self._count = count_writes and r is not None
        self._prefix = prefix
        self._writes_key = f"{prefix}:writes"

    def put_bytes(self, key: str, data: bytes, *, meta: Mapping[str, Any] | None = None) -> str:
        import hashlib

        digest = hashlib.sha256(bytes(data)).hexdigest()
        if self.exists(key):
            try:
                if self._sidecar(key).get("sha256") == digest and self.get_bytes(key):
                    return digest
            except (CorruptArtifactError, NotFoundError):
                pass
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


def write_counts(r: Any, *, prefix: str = "taskonomy") -> dict[str, int]:
    """Artifact key → number of real writes (only recorded with ``count_writes``)."""
    return {k: int(v) for k, v in r.hgetall(f"{prefix}:writes").items()}


# -- per-process context ----------------------------------------------------------------------------

@dataclass
class _Context:
    settings: WorkerSettings
    r: Any
    state: ExperimentStateStore
    stores: dict[str, WorkerStore]

    def store(self, url: str) -> WorkerStore:
        if url not in self.stores:
            self.stores[url] = WorkerStore(url, r=self.r, count_writes=self.settings.count_writes,
                                           prefix=self.settings.state_prefix)
        return self.stores[url]


_CONTEXT: dict[int, _Context] = {}


def _ctx() -> _Context:
    pid = os.getpid()  # a forked pool process builds its own connections
    if pid not in _CONTEXT:
        settings = load_worker_settings()
        r = redis_client(settings.broker_url)
        _CONTEXT.clear()
        _CONTEXT[pid] = _Context(settings=settings, r=r, state=ExperimentStateStore(r, prefix=settings.state_prefix),
                                 stores={})
    return _CONTEXT[pid]


_TORCH_READY = False


def _ensure_torch_threads(n: int) -> None:
    global _TORCH_READY
    if not _TORCH_READY:
        import torch

        torch.set_num_threads(n)
        _TORCH_READY = True


# -- graph from a spec ------------------------------------------------------------------------------

def graph_jobs(spec_data: Mapping[str, Any]) -> tuple[list[JobDict], dict[str, list[str]], dict[str, Any]]:
    """Jobs (as JSON dicts), dependencies and result keys of an experiment spec."""
    from taskonomy.pipeline import ExperimentSpec, build_graph

    spec = ExperimentSpec.parse(dict(spec_data))
    graph = build_graph(spec)
    jobs = [job.to_dict() for job in graph.order()]
    deps = {j["id"]: sorted(graph.deps(j["id"])) for j in jobs}
    results = dict(graph.results)
    if "table" in results:
        results["transfers"] = results["table"]
    return jobs, deps, results


def _expansion(spec_data: Mapping[str, Any], plan_job: JobDict, plan: Any) -> tuple[list[JobDict], dict[str, list[str]],
                                                                                    list[str]]:
    """The jobs a finished plan job adds, their dependencies, and the finalize job ids they feed."""
    from taskonomy.pipeline import ExperimentSpec, Job, build_graph

    graph = build_graph(ExperimentSpec.parse(dict(spec_data)))
    added = graph.expand(Job.from_dict(plan_job), plan)
    jobs = [j.to_dict() for j in added]
    deps = {j.id: sorted(graph.deps(j.id) | {plan_job["id"]}) for j in added}
    finals = [j.id for j in graph.jobs.values() if j.kind == "finalize"]
    return jobs, deps, finals


# -- running one job --------------------------------------------------------------------------------

def _sleep(seconds: float, *, stubborn: bool) -> None:
    """Sleep; a ``stubborn`` sleeper ignores the soft time limit (to exercise the hard one)."""
    from celery.exceptions import SoftTimeLimitExceeded

    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            time.sleep(left)
        except SoftTimeLimitExceeded:
            if not stubborn:
                raise


def _run_noop(job: JobDict, store: WorkerStore) -> bool:
    params = job.get("params", {})
    if job["outputs"] and all(store.exists(k) for k in job["outputs"]):
        return False
    if params.get("transient") and store._r is not None:  # fail the first n attempts like a flaky bucket
        attempt = int(store._r.hincrby(f"{store._prefix}:noop-attempts", job["id"], 1))
        if attempt <= int(params["transient"]):
            raise ConnectionResetError(f"simulated transient storage error (attempt {attempt})")
    missing = [k for k in job["inputs"] if not store.exists(k)]
    if missing:
        raise PreconditionError(f"job {job['id']} ({job['kind']}) is missing {len(missing)} input artifact(s), "
                                f"e.g. {missing[0]!r}")
    if params.get("seconds"):
        _sleep(float(params["seconds"]), stubborn=bool(params.get("stubborn")))
    for key in job["inputs"]:  # read (and so verify) the inputs, like a real job
        store.get_bytes(key)
    if params.get("fail"):
        raise RuntimeError(str(params["fail"]))
    for key in job["outputs"]:
        store.put_json(key, {"job": job["id"], "params": params})
    return True


def execute(job: JobDict, store: WorkerStore, *, torch_threads: int = 1) -> bool:
    """Run one job through the core (corrupt outputs are dropped first); True when work was done."""
    for key in job["outputs"]:
        store.drop_if_corrupt(key)
    if job["kind"] == NOOP:
        return _run_noop(job, store)
    from taskonomy.pipeline import Job, run_job

    _ensure_torch_threads(torch_threads)
    return run_job(Job.from_dict(job), store)


def is_transient(exc: BaseException) -> bool:
    """Storage and broker errors worth retrying (network, S3 throttling), not caller mistakes."""
    import redis

    from taskonomy.errors import TaskonomyError

    if isinstance(exc, TaskonomyError):
        return False
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return True
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError | NotADirectoryError):
        return False
    if isinstance(exc, OSError):  # includes ConnectionError, TimeoutError
        return True
    try:
        from botocore.exceptions import ClientError, HTTPClientError
        from botocore.exceptions import ConnectionError as BotoConnectionError

        if isinstance(exc, BotoConnectionError | HTTPClientError):
            return True
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            return code in {"SlowDown", "Throttling", "ServiceUnavailable", "InternalError", "RequestTimeout",
                            "RequestTimeTooSkewed", "503", "500"}
    except ImportError:
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

    def __init__(self, ctx: _Context, *, send: Callable[[str, int, JobDict, str, str], None]) -> None:
        self.ctx = ctx
        self.send = send  # (exp_id, run, job, store_url, token) -> None

    def _dispatch(self, book: RunBook, candidates: Iterable[str], store_url: str, token: str) -> list[str]:
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
        """True (and the experiment moved to CANCELLED) when a cancel was asked or it ended."""
        rec = self.ctx.state.get(exp_id)
        if rec is None:
            return True
        if rec.cancel_requested and rec.state not in TERMINAL:
            self.ctx.state.set_state(exp_id, "CANCELLED")
            return True
        return rec.cancel_requested or rec.state in ("FAILED", "CANCELLED")

    def fail(self, book: RunBook, job: JobDict, message: str) -> None:
        if book.mark_failed(job["id"]):
            self.ctx.state.job_done(book.exp_id, job["stage"], failed=True)
        book.count("failed")
        self.record_in_store(book, state="FAILED", error=message)  # in the store before anyone sees it
        self.ctx.state.set_state(book.exp_id, "FAILED", error=message)
        log.error("experiment %s FAILED: %s", book.exp_id, message)

    def record_in_store(self, book: RunBook, store_url: str | None = None, *, state: str | None = None,
                        error: str | None = None) -> None:
        """Copy the experiment's record (state, per-stage progress, result, job counts) into the
        store as ``experiments/<id>/record.json``, so the store describes its runs without Redis."""
        url = store_url or self.ctx.r.get(f"{self.ctx.settings.state_prefix}:exp:{book.exp_id}:store")
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
        except InvalidInputError as exc:  # an experiment id that is not a valid key segment
            log.warning("experiment %s: record not stored: %s", book.exp_id, exc)

    def finished(self, book: RunBook, job: JobDict, *, executed: bool, store_url: str, token: str) -> None:
        """Bookkeeping after a job ran or was skipped: extend, count, send ready jobs, finish."""
        ctx = self.ctx
        candidates = book.children(job["id"])
        if job["kind"] == "plan_higher_order":
            rec = ctx.state.get(book.exp_id)
            assert rec is not None
            plan = ctx.store(store_url).get_json(job["outputs"][0])
            new_jobs, deps, finals = _expansion(rec.spec, job, plan)
            for stage, n in book.register(new_jobs, deps).items():
                ctx.state.add_stage_jobs(book.exp_id, stage, n)
            for f in finals:
                book.add_deps(f, [j["id"] for j in new_jobs])
            candidates = book.children(job["id"])
        if book.mark_done(job["id"]):
            ctx.state.job_done(book.exp_id, job["stage"])
            book.count("executed" if executed else "skipped")
        self._dispatch(book, candidates, store_url, token)
        if book.n_done() >= book.n_jobs() and book.claim_finish():
            rec = ctx.state.get(book.exp_id)
            if rec is not None and rec.state not in TERMINAL:
                results = {**book.results(), "jobs": book.stats(), "run": book.run, "store": store_url}
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


def start_run(ctx: _Context, exp_id: str, jobs: list[JobDict], deps: Mapping[str, Iterable[str]], *,
              store_url: str, token: str, results: Mapping[str, Any], send: Callable[[str, int, JobDict, str, str],
                                                                                       None]) -> int:
    """Record a new run of ``exp_id`` with ``jobs`` and send its roots. Returns the run number."""
    r, prefix = ctx.r, ctx.settings.state_prefix
    run_key, token_key = f"{prefix}:exp:{exp_id}:run", f"{prefix}:exp:{exp_id}:run_token"
    if r.get(token_key) == token and r.get(run_key):  # this very message was delivered before
        run = int(r.get(run_key))
    else:
        run = int(r.incr(run_key))
        r.set(token_key, token)
    r.set(f"{prefix}:exp:{exp_id}:store", store_url)
    book = RunBook(r, exp_id, run, prefix=prefix)
    book.set_results(results)
    for stage, n in book.register(jobs, deps).items():
        ctx.state.add_stage_jobs(exp_id, stage, n)
    ctx.state.set_state(exp_id, "RUNNING")
    runner = JobRunner(ctx, send=send)
    runner._dispatch(book, book.roots(), store_url, token)
    if book.n_jobs() == 0 and book.claim_finish():
        ctx.state.set_result(exp_id, {**dict(results), "jobs": {}, "run": run, "store": store_url})
        ctx.state.set_state(exp_id, "SUCCEEDED")
    return run


# -- lost messages ----------------------------------------------------------------------------------

def queued_job_ids(r: Any, queues: Iterable[str]) -> set[str]:
    """Ids of the jobs that have a ``run_job`` message in the broker: waiting in one of ``queues``
    (kombu's Redis lists, priority sub-queues included) or delivered and not yet acknowledged."""
    import base64

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


def sweep_lost_jobs(ctx: _Context, send: Callable[[str, int, JobDict, str, str], None], *, older_than: float,
                    queues: Iterable[str] = ("train", "transfer", "control")) -> list[str]:
    """Send again the jobs of running experiments whose message was lost: sent ``older_than``
    seconds ago or more, not done, not leased (running), and no message of theirs in the broker.
    Returns the ids sent again (a duplicate of a job that does run after all is harmless: it
    waits for the lease, or finds its outputs and skips)."""
    prefix = ctx.settings.state_prefix
    candidates: list[tuple[RunBook, str]] = []
    offset = 0
    while batch := ctx.state.list(limit=100, offset=offset):
        offset += len(batch)
        for rec in batch:
            run = current_run(ctx.r, rec.id, prefix=prefix) if rec.state == "RUNNING" else None
            if run is not None:
                book = RunBook(ctx.r, rec.id, run, prefix=prefix)
                candidates += [(book, j) for j in book.silent_since(older_than)
                               if not ctx.r.exists(f"{prefix}:lease:{j}")]
    if not candidates:
        return []
    present = queued_job_ids(ctx.r, queues)
    resent = []
    for book, job_id in candidates:
        job = book.job(job_id)
        store_url = ctx.r.get(f"{prefix}:exp:{book.exp_id}:store")
        token = book.sender(job_id)
        if job_id in present or job is None or not store_url or token is None or not book.claim(job_id, token):
            continue
        log.warning("experiment %s: job %s (%s) was sent %.0f s ago or more and has no message left in the "
                    "broker: sending it again", book.exp_id, job_id, job["kind"], older_than)
        send(book.exp_id, book.run, job, store_url, token)
        resent.append(job_id)
    return resent


def _lost_job_bootstep(send: Callable[[str, int, JobDict, str, str], None]) -> type:
    """A worker bootstep running :func:`sweep_lost_jobs` on the worker's timer (main process)."""
    from celery import bootsteps

    class LostJobSweep(bootsteps.StartStopStep):
        requires = {"celery.worker.components:Timer"}

        def __init__(self, worker: Any, **kwargs: Any) -> None:
            super().__init__(worker, **kwargs)
            self.tref: Any = None

        def start(self, worker: Any) -> None:
            every = max(0.5, _ctx().settings.lost_job_seconds / 4)
            self.tref = worker.timer.call_repeatedly(every, self.sweep, priority=10)

        def stop(self, worker: Any) -> None:
            if self.tref is not None:
                self.tref.cancel()
                self.tref = None

        def sweep(self) -> None:
            try:
                ctx = _ctx()
                sweep_lost_jobs(ctx, send, older_than=ctx.settings.lost_job_seconds)
            except Exception as exc:  # a sweep must never take the worker down; the next one retries
                log.warning("lost-job sweep failed: %s: %s", type(exc).__name__, exc)

    return LostJobSweep


# -- Celery tasks -----------------------------------------------------------------------------------

def _retry_delay(settings: WorkerSettings, retries: int) -> float:
    return float(min(settings.retry_backoff_max, settings.retry_backoff * (2 ** retries)))


def register_tasks(app: Any) -> None:
    """Define the tasks on ``app`` (called by :func:`services.common.celery_app.create_app`)."""

    def send(exp_id: str, run: int, job: JobDict, store_url: str, token: str) -> None:
        app.send_task(RUN_JOB, args=[exp_id, run, job, store_url], queue=job["queue"])

    @app.task(name=RUN_JOB, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def run_job_task(self: Any, exp_id: str, run: int, job: JobDict, store_url: str) -> str:
        ctx = _ctx()
        token = str(self.request.id)
        runner = JobRunner(ctx, send=send)
        if current_run(ctx.r, exp_id, prefix=ctx.settings.state_prefix) != run:
            return "superseded"
        book = RunBook(ctx.r, exp_id, run, prefix=ctx.settings.state_prefix)
        if runner.cancelled(exp_id):
            record_job(ctx.r, kind=job["kind"], outcome="cancelled", seconds=0.0, prefix=ctx.settings.state_prefix)
            return "cancelled"
        lease = Lease(ctx.r, f"{ctx.settings.state_prefix}:lease:{job['id']}", seconds=ctx.settings.lease_seconds)
        if not lease.acquire():  # the same job runs elsewhere: look again once its lease could have lapsed
            app.send_task(RUN_JOB, args=[exp_id, run, job, store_url], queue=job["queue"],
                          countdown=min(5.0, ctx.settings.lease_seconds / 2), task_id=token)
            return "waiting"
        attempts = book.attempt(job["id"])
        if attempts > ctx.settings.max_retries + MAX_WORKER_LOSSES:
            lease.release()
            runner.fail(book, job, f"job {job['id']} ({job['kind']}) was started {attempts - 1} times without "
                                   "finishing (its worker process died each time: out of memory?)")
            return "failed"
        store = ctx.store(store_url)
        t0 = time.perf_counter()
        try:
            try:
                executed = execute(job, store, torch_threads=ctx.settings.torch_threads)
            finally:
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
            record_job(ctx.r, kind=job["kind"], outcome="failed", seconds=time.perf_counter() - t0,
                       prefix=ctx.settings.state_prefix)
            return "failed"
        except Exception as exc:
            seconds = time.perf_counter() - t0
            if is_transient(exc) and self.request.retries < ctx.settings.max_retries:
                delay = _retry_delay(ctx.settings, self.request.retries)
                log.warning("job %s: transient error (%s), retry %d in %.1f s", job["id"], exc,
                            self.request.retries + 1, delay)
                raise self.retry(exc=exc, countdown=delay, max_retries=ctx.settings.max_retries) from None
            retried = f" after {self.request.retries} retries" if self.request.retries else ""
            runner.fail(book, job, f"job {job['id']} ({job['kind']}) failed{retried}: {type(exc).__name__}: {exc}")
            record_job(ctx.r, kind=job["kind"], outcome="failed", seconds=seconds, prefix=ctx.settings.state_prefix)
            return "failed"
        seconds = time.perf_counter() - t0
        record_job(ctx.r, kind=job["kind"], outcome="executed" if executed else "skipped", seconds=seconds,
                   prefix=ctx.settings.state_prefix)
        try:
            runner.finished(book, job, executed=executed, store_url=store_url, token=token)
        except Exception as exc:
            if is_transient(exc):  # the job is done (its outputs exist): redo only the bookkeeping
                raise self.retry(exc=exc, countdown=_retry_delay(ctx.settings, 0), max_retries=None) from None
            runner.fail(book, job, f"after job {job['id']} ({job['kind']}): {type(exc).__name__}: {exc}")
            return "failed"
        return "executed" if executed else "skipped"

    @app.task(name=RUN_EXPERIMENT, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def run_experiment_task(self: Any, exp_id: str, store_url: str | None = None) -> str:
        ctx = _ctx()
        prefix = ctx.settings.state_prefix
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
        url = store_url or ctx.r.get(f"{prefix}:exp:{exp_id}:store") or ctx.settings.store_url
        if not url:
            ctx.state.set_state(exp_id, "FAILED", error="no artifact store: submit with a store URL or set "
                                                        "TASKONOMY_STORE_URL on the workers")
            return "failed"
        results: dict[str, Any] = {}
        try:
            if rec.spec.get("kind") == NOOP:  # a synthetic graph (queue benchmark, fault tests)
                jobs, deps = list(rec.spec["jobs"]), dict(rec.spec.get("deps", {}))
            else:
                jobs, deps, results = graph_jobs(rec.spec)
        except (InvalidInputError, NotFoundError, PreconditionError) as exc:
            ctx.state.set_state(exp_id, "FAILED", error=f"invalid experiment spec: {exc}")
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
        ctx = _ctx()
        return cancel_experiment(ctx.state, exp_id)

    def on_task_failure(sender: Any = None, exception: BaseException | None = None, args: Any = None,
                        **_: Any) -> None:
        """A hard time limit kills the pool process: the task never reports, so the worker's main
        process (which runs this hook) marks the experiment FAILED."""
        from celery.exceptions import TimeLimitExceeded

        if getattr(sender, "name", None) != RUN_JOB or not isinstance(exception, TimeLimitExceeded):
            return
        exp_id, run, job, _store_url = args
        ctx = _ctx()
        if current_run(ctx.r, exp_id, prefix=ctx.settings.state_prefix) != run:
            return
        book = RunBook(ctx.r, exp_id, run, prefix=ctx.settings.state_prefix)
        JobRunner(ctx, send=send).fail(book, job, f"job {job['id']} ({job['kind']}) exceeded the hard time limit "
                                                  f"of {ctx.settings.time_limit:g} s and was killed")
        record_job(ctx.r, kind=job["kind"], outcome="failed", seconds=ctx.settings.time_limit,
                   prefix=ctx.settings.state_prefix)

    from celery.signals import task_failure

    task_failure.connect(on_task_failure, weak=False, dispatch_uid=f"taskonomy-task-failure-{id(app)}")
    app.steps["worker"].add(_lost_job_bootstep(send))
    _ = (run_job_task, run_experiment_task, cancel_experiment_task)


# -- submitting side (CLI, tests, benchmark) --------------------------------------------------------

def cancel_experiment(state: ExperimentStateStore, exp_id: str) -> str:
    """Ask for cancellation; queued jobs of the experiment are then dropped. Returns the new state."""
    rec = state.get(exp_id)
    if rec is None:
        raise NotFoundError(f"no experiment {exp_id!r}")
    if rec.state in TERMINAL:
        return rec.state
    state.request_cancel(exp_id)
    state.set_state(exp_id, "CANCELLING")
    return "CANCELLING"


def experiment_id(spec: Any) -> str:
    """The id of an experiment: its spec's content key (the gateway uses the same scheme)."""
    return str(spec.content_key())


def _state(broker_url: str, prefix: str) -> ExperimentStateStore:
    import redis

    client = redis.Redis.from_url(broker_url, decode_responses=True, socket_connect_timeout=3, socket_timeout=5)
    try:
        client.ping()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise PreconditionError(f"cannot reach the broker at {broker_url}: {exc}") from None
    return ExperimentStateStore(client, prefix=prefix)


def submit(exp_id: str, spec_data: Mapping[str, Any], *, broker_url: str, store_url: str,
           prefix: str = "taskonomy") -> tuple[str, bool]:
    """Create (or re-open) the record of ``exp_id`` and send ``run_experiment`` by name.

    Returns ``(id, sent)``: nothing is sent when the experiment is already pending or running.
    """
    from services.common.celery_app import client_app

    state = _state(broker_url, prefix)
    rec, created = state.create(exp_id, dict(spec_data))
    if not created:
        if rec.state not in TERMINAL:
            return exp_id, False
        state.reset_for_rerun(exp_id, dict(spec_data))
    app = client_app(broker_url)
    try:
        app.send_task(RUN_EXPERIMENT, args=[exp_id], kwargs={"store_url": store_url}, queue="control")
    finally:
        app.close()
    return exp_id, True


def submit_experiment(spec_path: str, *, broker_url: str, store_url: str,
                      prefix: str = "taskonomy") -> tuple[str, bool]:
    """``taskonomy submit``: read a spec file (YAML/JSON, presets allowed) and submit it."""
    from taskonomy.pipeline import ExperimentSpec

    spec = ExperimentSpec.from_file(spec_path)
    ArtifactStore(store_url)  # a malformed store URL fails here, not in a worker
    return submit(experiment_id(spec), spec.model_dump(mode="json"), broker_url=broker_url, store_url=store_url,
                  prefix=prefix)


def experiment_status(exp_id: str, *, broker_url: str, prefix: str = "taskonomy") -> dict[str, Any]:
    """``taskonomy status``: the record (state, per-stage progress, result, error) plus job counts."""
    state = _state(broker_url, prefix)
    rec = state.get(exp_id)
    if rec is None:
        raise NotFoundError(f"no experiment {exp_id!r} on {broker_url}")
    out = rec.to_dict()
    run = current_run(state.r, exp_id, prefix=prefix)
    out["run"] = run
    out["jobs"] = RunBook(state.r, exp_id, run, prefix=prefix).stats() if run else {}
    return out
