"""Orchestration overhead of the Celery executor: no-op jobs through Redis with 2 workers.

Starts a private redis-server on a free port and two real worker processes (``taskonomy worker
trainer`` and ``taskonomy worker transfer``, concurrency 1 each), then times two no-op graphs
from submission to SUCCEEDED (read from the experiment state store):

- ``fanout``: N independent jobs alternating between the train and transfer queues: throughput
  (jobs/s) and orchestration overhead per job = wall x workers / N - mean job body;
- ``chain``: M jobs each depending on the previous one: latency per dependency hop (a job
  finishes, its successor is found ready, sent, received and started) = wall / M.

Every job still does the real work of the executor: state checks, a lease in Redis, a write of
a small JSON artifact (with checksum sidecar), completion bookkeeping and job metrics.
Prints ONE JSON line.

    python benchmarks/queue.py [--jobs 200] [--chain 50] [--smoke]

``--smoke`` (10 fan-out jobs, a chain of 5) starts the same processes and runs the same code in
seconds, for tests/benchmarks/test_smoke.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named queue.py: run as a script, its folder would shadow the standard library's
# ``queue`` (which kombu imports). Drop the folder from the import path before anything else.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.gateway.server import free_port  # noqa: E402


def _graph(n: int, *, chain: bool, tag: str) -> dict[str, Any]:
    jobs: list[dict[str, Any]] = []
    deps: dict[str, list[str]] = {}
    for i in range(n):
        jid = f"noop-{tag}-{i}"
        jobs.append({"id": jid, "kind": "noop", "stage": "noop", "queue": ("train", "transfer")[i % 2],
                     "params": {}, "inputs": [], "outputs": [f"noop/{tag}-{i}"]})
        if chain and i:
            deps[jid] = [f"noop-{tag}-{i - 1}"]
    return {"kind": "noop", "jobs": jobs, "deps": deps}


def _wait(state: Any, exp_id: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rec = state.get(exp_id)
        if rec is not None and rec.state in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return rec
        time.sleep(0.005)
    raise SystemExit(f"{exp_id} did not finish within {timeout} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=200, help="jobs in the fan-out graph")
    ap.add_argument("--chain", type=int, default=50, help="jobs in the chain graph")
    ap.add_argument("--smoke", action="store_true", help="10 fan-out jobs, a chain of 5: seconds (tests)")
    args = ap.parse_args()
    if args.smoke:
        args.jobs, args.chain = 10, 5

    from services.queue.redis_keys import KeySchema
    from services.queue.redisconn import redis_client
    from services.queue.state import ExperimentStateStore
    from services.queue.submission import submit

    work = Path(tempfile.mkdtemp(prefix="taskonomy-queue-bench-"))
    port = free_port()
    redis_proc = subprocess.Popen(
        [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", str(work)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    # the synthetic no-op jobs are the test suite's job-kind plugin (not part of the production workers)
    env = {**os.environ, "TASKONOMY_BROKER_URL": url, "OMP_NUM_THREADS": "1",
           "TASKONOMY_JOB_PLUGINS": "tests.services.workers.noop_jobs",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    workers: list[subprocess.Popen[bytes]] = []
    try:
        r = redis_client(url)
        deadline = time.monotonic() + 10
        while True:
            try:
                r.ping()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        logs = []
        for kind in ("trainer", "transfer"):
            log = work / f"{kind}.log"
            logs.append(log)
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "taskonomy", "worker", kind, "--concurrency", "1", "--loglevel", "WARNING"],
                cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True))
        state = ExperimentStateStore(r)
        # warm-up: both workers answer (imports done, connections open)
        submit("warmup", _graph(8, chain=False, tag="warm"), broker_url=url, store_url=str(work / "store"))
        _wait(state, "warmup", 120)

        results: dict[str, Any] = {}
        for name, n, chain in (("fanout", args.jobs, False), ("chain", args.chain, True)):
            t0 = time.perf_counter()
            submit(name, _graph(n, chain=chain, tag=name), broker_url=url, store_url=str(work / "store"))
            rec = _wait(state, name, 600)
            wall = time.perf_counter() - t0
            if rec.state != "SUCCEEDED":
                raise SystemExit(f"{name}: {rec.state} {rec.error}")
            results[name] = {"jobs": n, "wall_s": round(wall, 4)}
        h = r.hgetall(KeySchema().job_duration("other"))  # plugin kinds are labelled "other"
        body_s = float(h["sum"]) / float(h["count"])  # time inside execute() per no-op job
        fan, ch = results["fanout"], results["chain"]
        n_workers = 2
        overhead_ms = (fan["wall_s"] * n_workers / fan["jobs"] - body_s) * 1000
        hop_ms = ch["wall_s"] / ch["jobs"] * 1000
        import celery
        import redis

        print(json.dumps({
            "benchmark": "queue", "smoke": args.smoke,
            "workers": n_workers, "concurrency_per_worker": 1,
            "fanout_jobs": fan["jobs"], "fanout_wall_s": fan["wall_s"],
            "jobs_per_s": round(fan["jobs"] / fan["wall_s"], 2),
            "overhead_ms_per_job": round(overhead_ms, 2),
            "job_body_ms": round(body_s * 1000, 3),
            "chain_jobs": ch["jobs"], "chain_wall_s": ch["wall_s"], "chain_ms_per_hop": round(hop_ms, 2),
            "ratio_chain_hop_to_fanout_overhead": round(hop_ms / overhead_ms, 2) if overhead_ms > 0 else None,
            "platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "torch_threads": 1, "celery": celery.__version__, "redis_py": redis.__version__,
            "redis_server": r.info("server").get("redis_version"),
        }))
    finally:
        for w in workers:
            try:
                os.killpg(w.pid, signal.SIGTERM)
                w.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(w.pid, signal.SIGKILL)
        redis_proc.terminate()
        redis_proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
