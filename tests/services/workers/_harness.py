"""Real worker processes for the integration tests: `python -m taskonomy worker ...` subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]

#: Fast redelivery for tests (INFRA.md): visibility 4 s, restore sweep every second, short lease, lost
#: messages sent again after 3 s; the synthetic ``noop`` jobs and the store counting every artifact write
#: (write_counting) loaded as plugins.
FAST_ENV = {
    "TASKONOMY_JOB_PLUGINS": "tests.services.workers.noop_jobs,tests.services.workers.write_counting",
    "TASKONOMY_VISIBILITY_TIMEOUT": "4",
    "TASKONOMY_ALLOW_SHORT_VISIBILITY": "1",
    "TASKONOMY_UNACKED_RESTORE_INTERVAL": "1",
    "TASKONOMY_LEASE_SECONDS": "3",
    "TASKONOMY_LOST_JOB_SECONDS": "3",
    "TASKONOMY_SOFT_TIME_LIMIT": "120",
    "TASKONOMY_TIME_LIMIT": "150",
    "TASKONOMY_RETRY_BACKOFF": "1",
    "TASKONOMY_MAX_RETRIES": "2",
    "TASKONOMY_TORCH_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "TASKONOMY_ALLOW_ROOT": "1",  # the test machine runs as root, deliberately
    "TASKONOMY_REPORTS": "0",  # a few seconds per experiment: on only where a test looks at the report
}


def tiny_spec(name: str, *, max_order: int = 1) -> dict[str, Any]:
    """The smallest real experiment the queue tests run: 2 tasks on a 16 px world, 1 epoch."""
    return {
        "name": name, "dataset": {"kind": "world", "seed": 0, "size": 16},
        "tasks": ["autoencoding", "depth_zbuffer"], "splits": {"train": 8, "transfer": 8, "test": 4},
        "model": {"width": 8, "rep_channels": 4}, "train": {"epochs": 1, "batch_size": 8},
        "transfer": {"epochs": 1, "batch_size": 8}, "max_order": max_order, "beam": 2, "seed": 0,
    }


class Worker:
    """One `taskonomy worker KIND` process group (main process + prefork pool child)."""

    def __init__(self, kind: str, *, broker_url: str, log_path: Path, env: Mapping[str, str] | None = None,
                 concurrency: int = 1) -> None:
        full_env = {**os.environ, **FAST_ENV, "TASKONOMY_BROKER_URL": broker_url, **(env or {})}
        full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "taskonomy", "worker", kind, "--concurrency", str(concurrency), "--loglevel",
             "INFO"], cwd=ROOT, env=full_env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited ({self.proc.returncode}): {self.log_path.read_text()[-2000:]}")
            if b" ready." in self.log_path.read_bytes():
                return
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready after {timeout} s: {self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL the whole process group (worker and pool children), as a crash would."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def kill_pool(self) -> None:
        """SIGKILL the prefork pool processes only (the worker's main process survives)."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        assert children, "the worker has no pool process"
        for pid in children:
            os.kill(int(pid), signal.SIGKILL)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                self.kill()
        self._log.close()


@contextmanager
def running_workers(broker_url: str, log_dir: Path, *, env: Mapping[str, str] | None = None) -> Iterator[list[Worker]]:
    """A trainer and a transfer worker (logs in ``log_dir/<kind>.log``), ready on entry, stopped on exit."""
    workers = [Worker(kind, broker_url=broker_url, log_path=log_dir / f"{kind}.log", env=env)
               for kind in ("trainer", "transfer")]
    try:
        for w in workers:
            w.wait_ready()
        yield workers
    finally:
        for w in workers:
            w.stop()


def run_like_the_workers(spec: Any, store: Any) -> tuple[Any, Any]:
    """(graph, result) of ``spec`` run by the local executor with the workers' settings (one torch
    thread, one render process), so that its artifacts match theirs bit for bit."""
    import torch

    from taskonomy.contract import build_graph
    from taskonomy.execution import LocalExecutor

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' setting: identical float reductions
    old = os.environ.get("TASKONOMY_RENDER_WORKERS")
    os.environ["TASKONOMY_RENDER_WORKERS"] = "1"
    try:
        graph = build_graph(spec)
        return graph, LocalExecutor(store).run(graph)
    finally:
        torch.set_num_threads(threads)
        if old is None:
            os.environ.pop("TASKONOMY_RENDER_WORKERS", None)
        else:
            os.environ["TASKONOMY_RENDER_WORKERS"] = old


def noop_graph(n: int, *, seconds: float = 0.0, chain: bool = False, fail: str = "", transient: int = 0,
               queue_cycle: tuple[str, ...] = ("train", "transfer"), tag: str = "t") -> dict[str, Any]:
    """A synthetic experiment of ``n`` no-op jobs (a fan-out, or a chain when ``chain``)."""
    jobs, deps = [], {}
    for i in range(n):
        jid = f"noop-{tag}-{i}"
        params: dict[str, Any] = {"seconds": seconds}
        if fail and i == n - 1:
            params["fail"] = fail
        if transient and i == n - 1:
            params["transient"] = transient
        jobs.append({"id": jid, "kind": "noop", "stage": "noop", "queue": queue_cycle[i % len(queue_cycle)],
                     "params": params, "inputs": [], "outputs": [f"noop/{tag}-{i}"]})
        if chain and i:
            deps[jid] = [f"noop-{tag}-{i - 1}"]
    return {"kind": "noop", "jobs": jobs, "deps": deps}


def wait_for(predicate: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_terminal(state: Any, exp_id: str, *, timeout: float) -> Any:
    def done() -> Any:
        rec = state.get(exp_id)
        return rec if rec is not None and rec.state in ("SUCCEEDED", "FAILED", "CANCELLED") else None

    try:
        return wait_for(done, timeout=timeout, what=f"experiment {exp_id} to finish")
    except AssertionError:
        rec = state.get(exp_id)
        raise AssertionError(
            f"experiment {exp_id} did not finish: {json.dumps(rec.to_dict() if rec else None)}") from None
