#!/usr/bin/env python
"""Latency and throughput of SolveTaxonomy on ``paper-16k`` (all defaults) over gRPC.

Starts ``taskonomy serve solver`` as a separate process on a free port (so client and server do
not share a GIL), then for 1 and 8 concurrent clients (threads, one channel each) sends
requests for ``--seconds`` each after a warm-up; then 8 clients again against
``--processes N`` (default: the CPU count) server processes sharing the port. Prints ONE JSON
line: p50/p99 latency (ms) and throughput (requests/s) per configuration, the in-process core
call for comparison, the ratios between them, and the machine.

    .venv/bin/python benchmarks/solver_service.py [--seconds 10] [--workers N] [--processes N] [--smoke]

``--smoke`` (0.5 s per configuration, 2 server processes) starts the same servers and runs the
same code in seconds, for tests/benchmarks/test_smoke.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.solver.client import SolverClient  # noqa: E402
from taskonomy.affinity import load_table  # noqa: E402
from taskonomy.selection import TaxonomyProblem, solve_taxonomy  # noqa: E402

TABLE = "paper-16k"


def _start_server(workers: int | None, processes: int = 1) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, "-m", "taskonomy", "serve", "solver", "--host", "127.0.0.1", "--port", "0",
           "--drain", "0", "--log-level", "warning", "--processes", str(processes)]
    if workers:
        cmd += ["--workers", str(workers)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if m:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe drained
            return proc, int(m.group(1))
    proc.kill()
    raise SystemExit("the solver did not start")


def _stats(latencies: list[float], wall: float) -> dict[str, float]:
    ms = np.asarray(latencies) * 1e3
    return {
        "requests": len(latencies),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "throughput_rps": round(len(latencies) / wall, 2),
    }


def _run(address: str, clients: int, seconds: float) -> dict[str, float]:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)
    expected: list[str] = []

    def worker(i: int) -> None:
        with SolverClient(address, timeout_s=120, retries=2) as c:
            c.solve_taxonomy(TABLE)  # connect + warm up this channel
            barrier.wait()
            # the clock starts after every channel's warm-up (on a slow machine a clock started
            # before it could run out during the warm-up and leave nothing measured)
            stop_at = time.perf_counter() + seconds
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                sol = c.solve_taxonomy(TABLE)
                latencies[i].append(time.perf_counter() - t0)
                if not expected:
                    expected.extend(sol["roots"])
                assert sol["status"] == "OPTIMAL" and sol["roots"] == expected

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return _stats([x for per in latencies for x in per], wall)


def _in_process(seconds: float) -> dict[str, float]:
    table = load_table(TABLE)
    solve_taxonomy(table, TaxonomyProblem())
    lat: list[float] = []
    t_end = time.perf_counter() + seconds
    t0 = time.perf_counter()
    while time.perf_counter() < t_end:
        s = time.perf_counter()
        solve_taxonomy(table, TaxonomyProblem())
        lat.append(time.perf_counter() - s)
    return _stats(lat, time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring time per configuration")
    parser.add_argument("--workers", type=int, default=None, help="server thread pool (default: CPU count)")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="server processes of the multi-process run (default: CPU count)")
    parser.add_argument("--smoke", action="store_true", help="0.5 s per configuration, 2 processes (tests)")
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.processes = 0.5, 2

    proc, port = _start_server(args.workers)
    try:
        grpc_1 = _run(f"127.0.0.1:{port}", 1, args.seconds)
        grpc_8 = _run(f"127.0.0.1:{port}", 8, args.seconds)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    proc, port = _start_server(args.workers, args.processes)
    try:
        grpc_8_procs = _run(f"127.0.0.1:{port}", 8, args.seconds)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    core = _in_process(args.seconds)
    try:
        import torch

        torch_threads: int | None = torch.get_num_threads()
    except ImportError:
        torch_threads = None
    print(json.dumps({
        "benchmark": "solver_service",
        "smoke": args.smoke,
        "rpc": "SolveTaxonomy",
        "table": TABLE,
        "problem": "defaults (budget 6, max order 5, affinity)",
        "clients_1": grpc_1,
        "clients_8": grpc_8,
        f"clients_8_processes_{args.processes}": grpc_8_procs,
        "in_process_core": core,
        "ratios": {
            "throughput_8_over_1": round(grpc_8["throughput_rps"] / grpc_1["throughput_rps"], 3),
            "throughput_8_processes_over_1_process": round(
                grpc_8_procs["throughput_rps"] / grpc_8["throughput_rps"], 3),
            "p50_8_over_1": round(grpc_8["p50_ms"] / grpc_1["p50_ms"], 3),
            "p50_grpc_over_core": round(grpc_1["p50_ms"] / core["p50_ms"], 3),
        },
        "server_workers": args.workers or max(2, os.cpu_count() or 1),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch_threads,
        },
    }))


if __name__ == "__main__":
    main()
