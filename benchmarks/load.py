"""The gateway under load on loopback: concurrent taxonomy queries, submissions and status reads for
a bounded time, against real processes (redis-server, ``taskonomy serve solver``, ``taskonomy serve
gateway``). One JSON line: per operation the count, errors, p50/p99/max latency; in total the
request rate and the error count (which must be 0).

Operations, chosen round-robin per client:

* ``query`` (3 of 5): ``POST /v1/taxonomy`` over ``paper-base`` with one of 24 problems (budget x
  max_order), so both cache hits and solver calls happen;
* ``submit`` (1 of 5): ``POST /v1/experiments`` with a bearer token, every one a new experiment
  (its seed differs), enqueued on the control queue (no workers run here: they stay PENDING);
* ``status`` (1 of 5): ``GET /v1/experiments/{id}`` of the client's last submission (or the list).

    python benchmarks/load.py [--clients 8] [--seconds 10] [--smoke]

``--smoke`` (2 clients for 2 s) starts the same processes and runs the same code in seconds, for
tests/benchmarks/test_smoke.py.

``run_load`` and ``services`` are used by tests/reliability/test_load.py with a shorter duration.
"""

from __future__ import annotations

import os
import sys

# Run as a script, this folder is sys.path[0], and benchmarks/queue.py would shadow the standard
# library's queue module (which concurrent.futures needs).
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402

from benchmarks._procs import stop_all, wait_until  # noqa: E402
from services.gateway.server import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "load-test-token-0123456789abcdef"
QUERIES = [{"table": "paper-base", "budget": b, "max_order": o} for b in (1, 2, 3, 4, 5, 6) for o in (1, 2, 3, 4)]
OPS = ("query", "submit", "query", "status", "query")


@contextmanager
def services(*, redis_url: str | None = None, workdir: str | None = None) -> Iterator[str]:
    """redis-server (unless ``redis_url`` is given), the solver and the gateway as child processes on
    loopback; yields the gateway's URL."""
    tmp = Path(workdir or tempfile.mkdtemp(prefix="taskonomy-load-"))
    env = {**os.environ, "TASKONOMY_API_TOKENS": TOKEN,
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        if redis_url is None:
            port = free_port()
            procs.append(subprocess.Popen(
                [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", str(tmp)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            redis_url = f"redis://127.0.0.1:{port}/0"

            def redis_up() -> bool:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    return s.recv(16).startswith(b"+PONG")

            wait_until(redis_up, "redis-server")
        solver_port, gateway_port = free_port(), free_port()
        cli = [sys.executable, "-m", "taskonomy", "serve"]
        with open(tmp / "services.log", "ab") as log:
            procs.append(subprocess.Popen(
                [*cli, "solver", "--port", str(solver_port), "--host", "127.0.0.1", "--log-level", "warning"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
            procs.append(subprocess.Popen(
                [*cli, "gateway", "--port", str(gateway_port), "--host", "127.0.0.1", "--solver",
                 f"127.0.0.1:{solver_port}", "--broker", redis_url, "--store", str(tmp / "store"),
                 "--log-level", "warning"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        url = f"http://127.0.0.1:{gateway_port}"
        wait_until(lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200, "the gateway and solver")
        yield url
    finally:
        stop_all(procs)


def _percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def run_load(url: str, *, clients: int = 8, seconds: float = 10.0, run_id: str = "") -> dict[str, Any]:
    """``clients`` threads, each with its own connection, for ``seconds``; returns the figures."""
    run_id = run_id or f"{os.getpid()}-{int(time.time())}"
    records: list[tuple[str, int, float, str]] = []  # op, status (-1: no answer), seconds, error text
    lock = threading.Lock()
    expected = {"query": {200}, "submit": {202}, "status": {200}}
    deadline = time.monotonic() + seconds
    barrier = threading.Barrier(clients)

    def client(k: int) -> None:
        last_id: str | None = None
        mine: list[tuple[str, int, float, str]] = []
        with httpx.Client(base_url=url, timeout=60) as c:
            c.get("/healthz")  # a warm connection before the clock starts
            barrier.wait()
            i = 0
            while time.monotonic() < deadline:
                op = OPS[(i + k) % len(OPS)]
                t0 = time.perf_counter()
                try:
                    if op == "query":
                        r = c.post("/v1/taxonomy", json=QUERIES[(i * 7 + k) % len(QUERIES)])
                    elif op == "submit":
                        spec = {"name": f"load {run_id} {k} {i}", "tasks": ["normal", "reshading"],
                                "splits": {"train": 8, "transfer": 4, "test": 4},
                                "seed": (zlib.crc32(run_id.encode()) % 10_000) * 100_000 + k * 10_000 + i}
                        r = c.post("/v1/experiments", json=spec, headers={"Authorization": f"Bearer {TOKEN}"})
                        if r.status_code == 202:
                            last_id = r.json()["id"]
                    else:
                        r = c.get(f"/v1/experiments/{last_id}" if last_id else "/v1/experiments")
                    status, error = r.status_code, "" if r.status_code in expected[op] else r.text[:200]
                except httpx.HTTPError as exc:
                    status, error = -1, repr(exc)
                mine.append((op, status, time.perf_counter() - t0, error))
                i += 1
        with lock:
            records.extend(mine)

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 120)
    wall = time.perf_counter() - start
    per_op: dict[str, Any] = {}
    for op in sorted(set(OPS)):
        lat = sorted(s for o, _, s, _ in records if o == op)
        errs = [(st, e) for o, st, _, e in records if o == op and e]
        per_op[op] = {"count": len(lat), "errors": len(errs),
                      "p50_ms": round(_percentile(lat, 50) * 1e3, 2) if lat else None,
                      "p99_ms": round(_percentile(lat, 99) * 1e3, 2) if lat else None,
                      "max_ms": round(lat[-1] * 1e3, 2) if lat else None}
    all_lat = sorted(s for _, _, s, _ in records)
    errors = [f"{o} {st}: {e}" for o, st, _, e in records if e]
    return {
        "benchmark": "gateway_load", "clients": clients, "seconds": seconds, "requests": len(records),
        "requests_per_s": round(len(records) / wall, 1), "errors": len(errors), "first_errors": errors[:5],
        "p50_ms": round(_percentile(all_lat, 50) * 1e3, 2) if all_lat else None,
        "p99_ms": round(_percentile(all_lat, 99) * 1e3, 2) if all_lat else None,
        "ops": per_op, "hung_clients": sum(t.is_alive() for t in threads),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--smoke", action="store_true", help="2 clients for 2 s (tests)")
    args = parser.parse_args()
    if args.smoke:
        args.clients, args.seconds = 2, 2.0
    with services() as url:
        figures = run_load(url, clients=args.clients, seconds=args.seconds)
    try:
        import torch

        torch_threads: int | None = torch.get_num_threads()
    except ImportError:
        torch_threads = None
    print(json.dumps({**figures, "smoke": args.smoke, "platform": platform.platform(),
                      "python": platform.python_version(), "cpu_count": os.cpu_count(),
                      "torch_threads": torch_threads}))


if __name__ == "__main__":
    main()
