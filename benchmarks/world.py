"""Rendering throughput of the built-in world: samples/s with every task's labels.

Prints one JSON line: for 64x64 and 128x128, samples per second in one process and over all
cores (a warm process pool, each worker rendering index blocks independently), the parallel
speedup, and the machine (platform, CPU count, torch threads).

    .venv/bin/python benchmarks/world.py [--n 200] [--sizes 64 128]
"""

from __future__ import annotations

import sys
from pathlib import Path

# a script's folder comes first on sys.path: keep sibling benchmark modules (e.g. one named like a
# standard-library module) from shadowing the standard library
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from multiprocessing import get_context  # noqa: E402


def _render(size: int, start: int, count: int) -> tuple[int, float]:
    """Render a block; return (count, CPU seconds spent by this process on it)."""
    from taskonomy.world import WorldSpec, render_sample

    spec = WorldSpec(seed=0, size=size)
    cpu0 = time.process_time()
    for i in range(start, start + count):
        render_sample(spec, i)
    return count, time.process_time() - cpu0


def _warm() -> int:
    _render(32, 10**6, 1)
    return os.getpid()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="samples per measurement")
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    result: dict[str, object] = {"benchmark": "world", "n": args.n}
    _warm()
    with ProcessPoolExecutor(cores, mp_context=get_context("spawn")) as pool:
        for f in [pool.submit(_warm) for _ in range(cores)]:
            f.result()
        for size in args.sizes:
            n_single = max(10, args.n // 4) if size > 64 else args.n
            t0 = time.perf_counter()
            _, cpu_single = _render(size, 0, n_single)
            single = n_single / (time.perf_counter() - t0)
            block = max(1, args.n // (cores * 4))
            t0 = time.perf_counter()
            futures = [pool.submit(_render, size, s, min(block, args.n - s)) for s in range(0, args.n, block)]
            parts = [f.result() for f in futures]
            parallel = sum(p[0] for p in parts) / (time.perf_counter() - t0)
            cpu_ms = 1000 * sum(p[1] for p in parts) / sum(p[0] for p in parts)
            result[f"size{size}"] = {
                "samples_per_s_1proc": round(single, 1), "samples_per_s_all_cores": round(parallel, 1),
                "speedup": round(parallel / single, 2), "ms_per_sample_1proc": round(1000 / single, 2),
                # CPU time per sample: wall-clock figures on a shared machine depend on its load,
                # CPU time much less; cores * 1000 / cpu_ms is the throughput of idle cores
                "cpu_ms_per_sample_1proc": round(1000 * cpu_single / n_single, 2),
                "cpu_ms_per_sample_workers": round(cpu_ms, 2),
                "samples_per_s_idle_cores_estimate": round(cores * 1000 / cpu_ms, 1)}
    try:
        import torch

        threads = torch.get_num_threads()
    except ImportError:  # pragma: no cover
        threads = None
    result["machine"] = {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": cores,
                         "torch_threads": threads, "load_avg_1min": round(os.getloadavg()[0], 2)}
    result["goal"] = "200 samples/s at 64x64 with all labels on 2 cores"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
