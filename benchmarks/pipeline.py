"""Benchmark: the whole pipeline of a preset (default quick), cold and then resumed.

Prints ONE JSON line: per-stage wall time and executed jobs, jobs/s per stage and overall,
the report's time, the resumed run's time (every artifact present) as a ratio of the cold
run, and the machine (platform, CPU count, torch threads).

    .venv/bin/python benchmarks/pipeline.py [--preset quick | --smoke] [--keep DIR] [--threads N]

``--smoke`` runs :data:`SMOKE` (two tasks at 16 px, one-epoch networks, one thread) instead of a
preset: the same code path in seconds, for tests/benchmarks/test_smoke.py.

Render processes are children: their CPU time is not in ``cpu_seconds`` of the render stage.
"""

from __future__ import annotations

import sys
from pathlib import Path

# a script's folder comes first on sys.path: keep sibling benchmark modules (e.g. queue.py) from
# shadowing the standard library
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

#: The smoke run's experiment: the smallest real one (a 16 px world, one-epoch networks).
SMOKE: dict[str, Any] = {
    "name": "smoke", "tasks": ["normal", "depth_zbuffer"], "dataset": {"kind": "world", "size": 16, "seed": 3},
    "splits": {"train": 16, "transfer": 8, "test": 8},
    "model": {"width": 8, "rep_channels": 4, "blocks": 1, "transfer_width": 8, "hidden": 16},
    "train": {"epochs": 1, "batch_size": 16}, "transfer": {"epochs": 1, "batch_size": 16},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="quick", choices=("quick", "standard", "paper"))
    ap.add_argument("--keep", default=None, help="write the run here (and keep it) instead of a temp dir")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--smoke", action="store_true", help="a 2-task 16 px experiment instead of the preset (tests)")
    ap.add_argument("--workers", type=int, default=None,
                    help="processes for the network jobs (default: taskonomy run's, one per core; 1 with --smoke)")
    ap.add_argument("--compare-workers", action="store_true",
                    help="also run the pipeline cold with one process (another store) and report the ratio")
    args = ap.parse_args()
    if args.smoke:
        args.threads = args.threads or 1

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from taskonomy.contract import ExperimentSpec, preset
    from taskonomy.execution.local import default_workers
    from taskonomy.execution.run import run_experiment
    from taskonomy.run_outputs import publish_run

    spec = ExperimentSpec.parse(SMOKE) if args.smoke else preset(args.preset)
    out = args.keep or tempfile.mkdtemp(prefix="taskonomy-bench-")
    try:
        t0 = time.perf_counter()
        workers = args.workers or (1 if args.smoke else default_workers())
        cold = run_experiment(spec, out_dir=out, workers=workers, threads=args.threads)
        published = publish_run(cold, report=True)
        cold_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        warm = run_experiment(spec, out_dir=out, workers=workers, threads=args.threads)
        publish_run(warm, report=False)
        warm_s = time.perf_counter() - t1
        one = None
        if args.compare_workers:  # the same pipeline cold with one process (threads: torch's choice)
            one_dir = os.path.join(out, "one-process")
            t2 = time.perf_counter()
            one_run = run_experiment(spec, out_dir=one_dir, workers=1, threads=args.threads)
            one = {"pipeline_seconds": round(time.perf_counter() - t2, 2),
                   "stage_seconds": {k: round(v, 2) for k, v in one_run.stats.stage_seconds.items()}}
    finally:
        if args.keep is None:
            shutil.rmtree(out, ignore_errors=True)
    st = cold.stats
    stages = {}
    for stage, secs in st.stage_seconds.items():
        n = st.stage_executed.get(stage, 0)
        stages[stage] = {"seconds": round(secs, 3), "cpu_seconds": round(st.stage_cpu_seconds.get(stage, 0.0), 3),
                         "jobs": n, "jobs_per_s": round(n / secs, 3) if secs > 0 else None}
    print(json.dumps({
        "benchmark": "pipeline", "preset": spec.name if args.smoke else args.preset, "tasks": len(spec.tasks),
        "size": spec.dataset.size,
        "splits": spec.splits.model_dump(), "jobs": len(st.executed),
        "total_seconds": round(cold_s, 2), "pipeline_seconds": round(st.seconds, 2),
        "report_seconds": round(published.seconds.get("report", 0.0), 2),
        "jobs_per_s": round(len(st.executed) / st.seconds, 3), "stages": stages,
        "resume_seconds": round(warm_s, 3), "resume_skipped": len(warm.stats.skipped),
        "resume_over_cold": round(warm_s / cold_s, 4),
        "roots": cold.taxonomy.get("roots"), "workers": workers,
        "one_process": one,
        "one_process_over_workers": None if one is None else round(one["pipeline_seconds"] / st.seconds, 3),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__, "loadavg_1m": round(os.getloadavg()[0], 2)},
    }))


if __name__ == "__main__":
    main()
