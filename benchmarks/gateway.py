"""Taxonomy queries through the gateway on loopback; one JSON line.

Starts the solver (``taskonomy serve solver``) and the gateway (``taskonomy serve gateway``) as
separate processes on free loopback ports, then sends ``POST /v1/taxonomy`` over the published
16k table from client threads and reports queries per second and latency percentiles for:

* ``cached``: one problem asked again and again (answered from the gateway's cache);
* ``uncached``: every query a different problem (budgets 1.00, 1.01, ...: each one a solver call);
* ``direct``: the same distinct problems (same budgets) sent straight to the solver over gRPC (no HTTP, no
  gateway), the baseline that shows the gateway's own overhead.

Ratios compare the variants of this one run. Latencies are client-side wall times.

    python benchmarks/gateway.py [--queries 200] [--concurrency 4] [--table paper-16k] [--smoke]

``--smoke`` (8 queries from 2 threads) starts the same processes and runs the same code in
seconds, for tests/benchmarks/test_smoke.py.
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
import statistics  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402

from benchmarks._procs import stop_all, wait_until  # noqa: E402
from services.gateway.server import free_port  # noqa: E402

TOKEN = "benchmark-token-0123456789"


@contextmanager
def services(table: str) -> Iterator[tuple[str, str]]:
    """Solver and gateway as child processes; yields (gateway URL, solver address)."""
    env = {**os.environ, "TASKONOMY_API_TOKENS": TOKEN, "TASKONOMY_CACHE_SIZE": "100000"}
    solver_port, gateway_port = free_port(), free_port()
    cli = [sys.executable, "-m", "taskonomy", "serve"]
    procs = [
        subprocess.Popen([*cli, "solver", "--port", str(solver_port), "--host", "127.0.0.1", "--log-level", "warning"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([*cli, "gateway", "--port", str(gateway_port), "--host", "127.0.0.1",
                          "--solver", f"127.0.0.1:{solver_port}", "--broker", f"redis://127.0.0.1:{free_port()}/0",
                          "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    try:
        url = f"http://127.0.0.1:{gateway_port}"
        wait_until(lambda: httpx.get(f"{url}/healthz", timeout=1).status_code == 200, "the gateway")
        # the first query warms the solver's table cache
        httpx.post(f"{url}/v1/taxonomy", json={"table": table, "budget": 0.5}, timeout=60).raise_for_status()
        yield url, f"127.0.0.1:{solver_port}"
    finally:
        stop_all(procs)


def measure(fn: Callable[[int], Any], n: int, concurrency: int, *, warmup: Callable[[], Any]) -> dict[str, float]:
    """Run ``fn(0..n-1)`` from ``concurrency`` threads (after each thread's connection is warm)."""
    latencies: list[float] = []

    def one(i: int) -> None:
        t0 = time.perf_counter()
        fn(i)
        latencies.append(time.perf_counter() - t0)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(lambda _: warmup(), range(4 * concurrency)))
        start = time.perf_counter()
        list(pool.map(one, range(n)))
        wall = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"queries": n, "qps": round(n / wall, 2), "p50_ms": round(q[49] * 1e3, 2),
            "p99_ms": round(q[98] * 1e3, 2), "mean_ms": round(statistics.fmean(latencies) * 1e3, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--table", default="paper-16k")
    parser.add_argument("--smoke", action="store_true", help="8 queries from 2 threads: seconds (tests)")
    args = parser.parse_args()
    if args.smoke:
        args.queries, args.concurrency = 8, 2

    from services.solver.client import SolverClient

    with services(args.table) as (url, solver_address):
        local = threading.local()

        def client() -> httpx.Client:
            if not hasattr(local, "c"):
                local.c = httpx.Client(base_url=url, timeout=120)
            return local.c

        def ask(body: dict[str, Any]) -> dict[str, Any]:
            resp = client().post("/v1/taxonomy", json=body)
            resp.raise_for_status()
            body_out: dict[str, Any] = resp.json()
            return body_out

        default = ask({"table": args.table})

        def warm() -> None:
            ask({"table": args.table})

        cached = measure(lambda i: ask({"table": args.table}), args.queries, args.concurrency, warmup=warm)
        uncached = measure(lambda i: ask({"table": args.table, "budget": round(1.0 + 0.01 * i, 2)}),
                           args.queries, args.concurrency, warmup=warm)
        with SolverClient(solver_address, timeout_s=120) as solver:
            direct = measure(lambda i: solver.solve_taxonomy(args.table, {"budget": round(1.0 + 0.01 * i, 2)}),
                             args.queries, args.concurrency, warmup=lambda: solver.health())

    try:
        import torch

        torch_threads: int | None = torch.get_num_threads()
    except ImportError:
        torch_threads = None
    print(json.dumps({
        "benchmark": "gateway_taxonomy_queries",
        "smoke": args.smoke,
        "table": args.table,
        "concurrency": args.concurrency,
        "default_roots": default["roots"],
        "default_objective": round(float(default["objective"]), 4),
        "cached": cached,
        "uncached": uncached,
        "direct_solver": direct,
        "ratios": {
            "cached_over_uncached_qps": round(cached["qps"] / uncached["qps"], 2),
            "uncached_over_direct_qps": round(uncached["qps"] / direct["qps"], 3),
            "gateway_overhead_p50_ms": round(uncached["p50_ms"] - direct["p50_ms"], 2),
        },
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch_threads,
    }))


if __name__ == "__main__":
    main()
