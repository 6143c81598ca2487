"""One run of an experiment in Redis: its jobs, dependencies, completions and who sent what.

The dependency order of the graph is kept by the jobs themselves (the equivalent of chaining
chords, but stored in Redis, so it survives a Redis restart with AOF and needs no result
backend). Every operation is idempotent under Celery's at-least-once delivery: jobs are
registered with ``HSETNX``, completions are set members (a redelivered completion counts once),
and sending a ready job is claimed with the sender's task id, so a redelivered sender re-sends
what it claimed but two siblings never both send.

Keys (``P`` = prefix, ``E`` = experiment id, ``R`` = run number; built by
:mod:`services.queue.redis_keys`), besides the state store's:
``P:exp:E:run`` (current run), ``P:exp:E:run_token`` (the start message that made it),
``P:exp:E:store`` (store URL), and per run ``P:run:E:R:`` + ``jobs`` (hash id -> job JSON),
``deps:<id>`` / ``children:<id>`` (sets), ``producer`` (hash artifact key -> job id), ``done``,
``counted``, ``failed`` (sets), ``sent`` (hash id -> claiming task id), ``sent_at`` (hash id ->
when it was last sent), ``attempts`` (hash id -> starts), ``stats`` (hash executed/skipped/...),
``results`` (JSON), ``finished`` (flag).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from services.queue.redis_keys import DEFAULT_PREFIX, KeySchema

#: How long finished runs' bookkeeping stays in Redis.
RUN_TTL_SECONDS = 7 * 24 * 3600

JobDict = dict[str, Any]


class RunBook:
    """One run of one experiment: its jobs, dependencies and completions, in Redis."""

    def __init__(self, r: Any, exp_id: str, run: int, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.r = r
        self.exp_id = exp_id
        self.run = int(run)
        self.prefix = prefix
        self.keys = KeySchema(prefix)
        self.base = self.keys.run(exp_id, self.run)

    def _k(self, part: str) -> str:
        return self.keys.run_part(self.exp_id, self.run, part)

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

    def unattempt(self, job_id: str) -> None:
        """Take back a start of ``job_id`` (its worker handed it back to the queue unfinished)."""
        self.r.hincrby(self._k("attempts"), job_id, -1)

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
        for key in self.r.scan_iter(match=self._k("*"), count=500):
            self.r.expire(key, seconds)


def current_run(r: Any, exp_id: str, *, prefix: str = DEFAULT_PREFIX) -> int | None:
    """The number of the experiment's current run (None before its first start)."""
    value = r.get(KeySchema(prefix).current_run(exp_id))
    return int(value) if value else None


def run_store_url(r: Any, exp_id: str, *, prefix: str = DEFAULT_PREFIX) -> str | None:
    """The artifact store URL the experiment was submitted with or last ran on (None: not known)."""
    value = r.get(KeySchema(prefix).run_store(exp_id))
    return str(value) if value else None


def set_run_store_url(r: Any, exp_id: str, url: str, *, prefix: str = DEFAULT_PREFIX) -> None:
    r.set(KeySchema(prefix).run_store(exp_id), url)
