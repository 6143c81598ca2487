"""A job-kind plugin (``TASKONOMY_JOB_PLUGINS=tests.services.workers.noop_jobs``) with synthetic
jobs for the queue tests, the fault tests and the queue benchmark: never loaded in production.

An experiment spec ``{"kind": "noop", "jobs": [...], "deps": {id: [ids]}}`` is its own job graph.
A ``noop`` job sleeps ``params.seconds``, reads (and so verifies) its inputs, then writes each
output as a small JSON artifact. ``params.fail`` makes it raise; ``params.transient = n`` makes its
first n attempts raise a transient storage error (counted in Redis, so across processes);
``params.stubborn`` ignores the soft time limit (to exercise the hard one).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from services.queue.jobkinds import JobEnv
from taskonomy.errors import PreconditionError

NOOP = "noop"


def _sleep(seconds: float, *, stubborn: bool) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            time.sleep(left)
        except SoftTimeLimitExceeded:
            if not stubborn:
                raise


class NoopJobs:
    name = NOOP

    def graph(self, spec: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
        return list(spec["jobs"]), {k: list(v) for k, v in dict(spec.get("deps", {})).items()}

    def run(self, job: dict[str, Any], env: JobEnv) -> bool:
        params = job.get("params", {})
        store = env.store
        if job["outputs"] and all(store.exists(k) for k in job["outputs"]):
            return False
        if params.get("transient"):  # fail the first n attempts like a flaky bucket
            attempt = int(env.redis.hincrby(f"{env.prefix}:noop-attempts", job["id"], 1))
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


JOB_KINDS = (NoopJobs(),)
