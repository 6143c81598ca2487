"""Is the measured taxonomy right, and how long does it take? A preset run with two seeds.

Runs ``taskonomy run --preset P`` end to end (a fresh process: rendering, training, transfers,
the table, the taxonomy and the report), then the same experiment with the next seed into a
second folder sharing the artifact store (the rendered world is reused), and validates the
first against ``paper-16k`` and the second (``taskonomy.validity``). Prints one JSON line: every
validity figure, the per-target figures, the wall and CPU time of each run, and the machine.

    .venv/bin/python -m benchmarks.validity --preset quick [--out runs/validity-quick] [--seed 0]

``--smoke`` runs :data:`SMOKE` (three tasks at 16 px, one-epoch networks, 20 bootstrap resamples)
instead: the same code path in seconds (figures meaningless), for tests/benchmarks/test_smoke.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

# a script's folder comes first on sys.path: keep sibling benchmark modules from shadowing the stdlib
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Mapping  # noqa: E402
from typing import Any  # noqa: E402

#: The smoke run's experiment: three targets of the 3D family on a 16 px world, one-epoch networks.
SMOKE: dict[str, Any] = {
    "name": "smoke", "tasks": ["normal", "depth_zbuffer", "reshading"],
    "dataset": {"kind": "world", "size": 16, "seed": 3}, "splits": {"train": 16, "transfer": 8, "test": 8},
    "model": {"width": 8, "rep_channels": 4, "blocks": 1, "transfer_width": 8, "hidden": 16},
    "train": {"epochs": 1, "batch_size": 16}, "transfer": {"epochs": 1, "batch_size": 16},
}

#: The goals of issue 16 per preset (2-core CPU).
GOALS = {
    "quick": {"seconds": 300, "mean_spearman_vs_reference": 0.4, "share_best_in_reference_top3": 0.6,
              "every_3d_target_best_from_own_family": True, "share_beats_random": 0.9,
              "mean_spearman_between_seeds": 0.8, "roots_agree_at_budget_6": True},
    "standard": {"seconds": 2700, "mean_spearman_vs_reference": 0.5, "share_best_in_reference_top3": 0.7,
                 "share_best_from_own_family": 0.8, "share_beats_random": 0.9,
                 "mean_spearman_between_seeds": 0.9, "roots_agree_at_budget_6": True},
}


def _run(args: list[str]) -> tuple[float, float, dict[str, object]]:
    """Run ``taskonomy`` in a child process: (wall seconds, child CPU seconds, its JSON line)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "taskonomy", *args], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        raise SystemExit(f"taskonomy {' '.join(args)} failed ({res.returncode}): {res.stderr.strip()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads(res.stdout.strip().splitlines()[-1])


def _met(summary: Mapping[str, object], goals: Mapping[str, object], seconds: float) -> dict[str, bool]:
    met: dict[str, bool] = {}
    for key, goal in goals.items():
        value = seconds if key == "seconds" else summary.get(key)
        if isinstance(goal, bool):
            met[key] = value is goal
        elif key == "seconds":
            met[key] = value is not None and float(value) <= float(goal)  # type: ignore[arg-type]
        else:
            met[key] = value is not None and float(value) >= float(goal)  # type: ignore[arg-type]
    return met


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="quick", help="quick | standard | paper")
    ap.add_argument("--config", default=None, help="an experiment spec file instead of --preset")
    ap.add_argument("--out", default=None, help="folder for the two runs (default: a temporary one)")
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--smoke", action="store_true", help="a 3-task 16 px experiment, 20 resamples (tests)")
    args = ap.parse_args()

    from taskonomy.validity import validate_run

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="validity-"))
    first, second = out / "seed-a", out / "seed-b"
    store = out / "artifacts"
    load0 = os.getloadavg()[0]
    if args.smoke:
        out.mkdir(parents=True, exist_ok=True)
        (out / "smoke.json").write_text(json.dumps(SMOKE))
        args.config, args.bootstrap = str(out / "smoke.json"), 20
        os.environ["OMP_NUM_THREADS"] = "1"  # the runs' torch threads: seconds of work, no fight over cores
    what = ["--config", args.config] if args.config else ["--preset", args.preset]
    wall1, cpu1, line1 = _run(["run", *what, "--out", str(first), "--store", str(store), "--quiet"])
    spec = json.loads((first / "experiment.json").read_text())["spec"]
    spec["seed"] = int(spec["seed"]) + 1
    (out / "second.json").write_text(json.dumps(spec))
    wall2, cpu2, _ = _run(["run", "--config", str(out / "second.json"), "--out", str(second), "--store", str(store),
                           "--quiet", "--no-report"])
    t0 = time.perf_counter()
    report = validate_run(first, second=second, bootstrap=args.bootstrap)
    body = report.to_dict()
    summary = body["summary"]
    name = spec.get("name", args.preset)
    result = {
        "benchmark": "validity", "preset": name, "reference": body["reference"],
        "seconds_end_to_end": round(wall1, 1), "cpu_seconds": round(cpu1, 1),
        "second_seed_seconds": round(wall2, 1), "second_seed_cpu_seconds": round(cpu2, 1),
        "validate_seconds": round(time.perf_counter() - t0, 1),
        "stage_seconds": line1.get("stage_seconds"), "summary": summary,
        "targets": [{k: t[k] for k in ("target", "family", "best_source", "spearman_vs_reference", "reference_top",
                                       "same_family", "winrate_vs_random", "winrate_vs_random_low",
                                       "spearman_between_seeds")} for t in body["targets"]],
        "roots": body["roots"],
        "goals": GOALS.get(name), "goals_met": _met(summary, GOALS[name], wall1) if name in GOALS else None,
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpu_count": os.cpu_count(), "load_avg_1min_start": round(load0, 2),
                    "load_avg_1min_end": round(os.getloadavg()[0], 2)},
    }
    print(json.dumps(result))
    if not args.out and not args.keep:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
