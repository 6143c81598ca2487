"""Is the measured taxonomy right, and how long does it take? A preset run with two seeds.

Runs ``taskonomy run --preset P`` end to end (a fresh process: rendering, training, transfers,
the table, the taxonomy and the report), then the same experiment with the next seed into a
second folder sharing the artifact store (the rendered world is reused), and validates the
first against ``paper-16k`` and the second (``taskonomy.validity``). Prints one JSON line: every
validity figure (the paper's own claims included), the per-target figures, the significance
test per budget, the goals of issue 22 for the preset and whether each is met, the wall and CPU
time of each run, and the machine; and the goals table, readable, on stderr.

    .venv/bin/python -m benchmarks.validity --preset quick [--out runs/validity-quick] [--seed 0]
    .venv/bin/python -m benchmarks.validity --runs RUN_A RUN_B --goals quick   # two finished runs

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
from typing import Any  # noqa: E402

#: The smoke run's experiment: three targets of the 3D family on a 16 px world, one-epoch networks.
SMOKE: dict[str, Any] = {
    "name": "smoke", "tasks": ["normal", "depth_zbuffer", "reshading"],
    "dataset": {"kind": "world", "size": 16, "seed": 3}, "splits": {"train": 16, "transfer": 8, "test": 8},
    "model": {"width": 8, "rep_channels": 4, "blocks": 1, "transfer_width": 8, "hidden": 16},
    "train": {"epochs": 1, "batch_size": 16}, "transfer": {"epochs": 1, "batch_size": 16},
}

#: The goals table of issue 22 (and issue 16's time budget), per preset: (label, summary key,
#: comparison, goal). A goal a preset does not have is left out of its list.
GOAL_ROWS: dict[str, list[tuple[str, str, str, object]]] = {
    "quick": [
        ("agreement on reproduced targets, share of the paper's own", "agreement_share_of_papers_own", ">=", 0.7),
        ("best source in the paper's top 3", "share_best_in_reference_top3", ">=", 0.85),
        ("every 3D target's best source from the 3D family", "every_3d_target_best_from_own_family", "is", True),
        ("taxonomy vs random policies, budgets 1-8 (lowest percentile)", "random_policies_min_percentile", ">=",
         95.0),
        ("best source clearly beats random encoder", "share_beats_random", ">=", 1.0),
        ("seed-to-seed Spearman", "mean_spearman_between_seeds", ">=", 0.85),
        ("same roots at budget 6 for both seeds", "roots_agree_at_budget_6", "is", True),
        ("end to end, seconds on 2 CPU cores (issue 16)", "seconds", "<=", 300),
    ],
    "standard": [
        ("agreement on reproduced targets, share of the paper's own", "agreement_share_of_papers_own", ">=", 0.75),
        ("best source in the paper's top 3", "share_best_in_reference_top3", ">=", 0.75),
        ("3D targets whose best source is 3D", "share_3d_best_from_own_family", ">=", 0.9),
        ("task-similarity tree vs the four families (ARI)", "tree_ari_vs_families", ">=", 0.5),
        ("taxonomy vs random policies, budgets 1-8 (lowest percentile)", "random_policies_min_percentile", ">=",
         95.0),
        ("best source clearly beats random encoder", "share_beats_random", ">=", 0.95),
        ("seed-to-seed Spearman", "mean_spearman_between_seeds", ">=", 0.9),
        ("same roots at budget 6 for both seeds", "roots_agree_at_budget_6", "is", True),
        ("end to end, seconds on 2 CPU cores (issue 16)", "seconds", "<=", 2700),
    ],
}
#: The goals per preset as plain JSON: summary key -> {"op", "goal"}.
GOALS = {preset: {key: {"op": op, "goal": goal} for _label, key, op, goal in rows}
         for preset, rows in GOAL_ROWS.items()}


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


def goals_table(summary: dict[str, Any], preset: str, seconds: float | None) -> list[dict[str, Any]]:
    """One row per goal of ``preset``: label, key, comparison, goal, the measured value and whether
    it is met (None where the figure could not be measured, e.g. no time for finished runs)."""
    rows = []
    for label, key, op, goal in GOAL_ROWS[preset]:
        value = seconds if key == "seconds" else summary.get(key)
        met: bool | None
        if value is None:
            met = None if key == "seconds" else False
        elif op == "is":
            met = value is goal
        elif op == "<=":
            met = float(value) <= float(goal)  # type: ignore[arg-type]
        else:
            met = float(value) >= float(goal)  # type: ignore[arg-type]
        rows.append({"goal": label, "key": key, "op": op, "target": goal, "value": value, "met": met})
    return rows


def _print_goals(rows: list[dict[str, Any]], preset: str) -> None:
    def shown(v: object) -> str:
        return "n/a" if v is None else ("yes" if v else "no") if isinstance(v, bool) else (
            f"{v:.3f}" if isinstance(v, float) else str(v))

    width = max(len(r["goal"]) for r in rows)
    print(f"goals of issue 22, preset {preset}:", file=sys.stderr)
    for r in rows:
        status = {True: "met", False: "NOT MET", None: "n/a"}[r["met"]]
        print(f"  {r['goal']:<{width}}  {r['op']} {shown(r['target']):>6}  measured {shown(r['value']):>7}  {status}",
              file=sys.stderr)


def _result(body: dict[str, Any], preset: str, goals_for: str | None, seconds: float | None) -> dict[str, Any]:
    summary = body["summary"]
    rows = goals_table(summary, goals_for, seconds) if goals_for in GOAL_ROWS else None
    if rows is not None and goals_for is not None:
        _print_goals(rows, goals_for)
    return {
        "benchmark": "validity", "preset": preset, "reference": body["reference"], "summary": summary,
        "targets": [{k: t[k] for k in ("target", "family", "best_source", "spearman_vs_reference", "reference_top",
                                       "same_family", "winrate_vs_random", "winrate_vs_random_low",
                                       "spearman_between_seeds", "paper_1k_vs_16k", "paper_reproduces",
                                       "best_higher_order", "higher_order_beats_first_order")}
                    for t in body["targets"]],
        "roots": body["roots"], "random_policies": body["random_policies"],
        "similarity_tree": body["similarity_tree"],
        "goals_for": goals_for, "goals": GOALS.get(goals_for or ""),
        "goals_met": None if rows is None else {r["key"]: r["met"] for r in rows},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="quick", help="quick | standard | paper")
    ap.add_argument("--config", default=None, help="an experiment spec file instead of --preset")
    ap.add_argument("--out", default=None, help="folder for the two runs (default: a temporary one)")
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--policies", type=int, default=1000, help="random feasible policies per budget (>= 1000)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--runs", nargs=2, metavar=("RUN_A", "RUN_B"), default=None,
                    help="validate two finished runs of one experiment (two seeds) instead of running a preset")
    ap.add_argument("--goals", default=None, choices=sorted(GOAL_ROWS),
                    help="whose goals to judge against (default: the preset's)")
    ap.add_argument("--smoke", action="store_true", help="a 3-task 16 px experiment, 20 resamples (tests)")
    args = ap.parse_args()
    if args.policies < 1000:
        ap.error(f"--policies: at least 1000, got {args.policies}")
    if args.runs is not None:
        for d in args.runs:
            if not (Path(d) / "experiment.json").is_file():
                ap.error(f"--runs: {d!r} is not a finished `taskonomy run --out` folder (no experiment.json)")

    from taskonomy.validity import validate_run

    if args.runs is not None:
        first, second = (Path(d) for d in args.runs)
        name = json.loads((first / "experiment.json").read_text())["spec"].get("name", "")
        t0 = time.perf_counter()
        body = validate_run(first, second=second, bootstrap=args.bootstrap, policies=args.policies).to_dict()
        result = {**_result(body, name, args.goals or (name if name in GOAL_ROWS else None), None),
                  "runs": [str(first), str(second)], "validate_seconds": round(time.perf_counter() - t0, 1)}
        print(json.dumps(result))
        return

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="validity-"))
    first, second = out / "seed-a", out / "seed-b"
    store = out / "artifacts"
    load0 = os.getloadavg()[0]
    if args.smoke:
        out.mkdir(parents=True, exist_ok=True)
        (out / "smoke.json").write_text(json.dumps(SMOKE))
        args.config, args.bootstrap = str(out / "smoke.json"), 20
        os.environ["OMP_NUM_THREADS"] = "1"  # the runs' torch threads: seconds of work, no fight over cores
        os.environ["TASKONOMY_WORKERS"] = "1"  # spawning worker processes costs more than these networks
    what = ["--config", args.config] if args.config else ["--preset", args.preset]
    wall1, cpu1, line1 = _run(["run", *what, "--out", str(first), "--store", str(store), "--quiet"])
    spec = json.loads((first / "experiment.json").read_text())["spec"]
    spec["seed"] = int(spec["seed"]) + 1
    (out / "second.json").write_text(json.dumps(spec))
    wall2, cpu2, _ = _run(["run", "--config", str(out / "second.json"), "--out", str(second), "--store", str(store),
                           "--quiet", "--no-report"])
    t0 = time.perf_counter()
    report = validate_run(first, second=second, bootstrap=args.bootstrap, policies=args.policies)
    body = report.to_dict()
    name = spec.get("name", args.preset)
    result = {
        **_result(body, name, args.goals or (name if name in GOAL_ROWS else None), wall1),
        "seconds_end_to_end": round(wall1, 1), "cpu_seconds": round(cpu1, 1),
        "second_seed_seconds": round(wall2, 1), "second_seed_cpu_seconds": round(cpu2, 1),
        "validate_seconds": round(time.perf_counter() - t0, 1),
        "stage_seconds": line1.get("stage_seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpu_count": os.cpu_count(), "load_avg_1min_start": round(load0, 2),
                    "load_avg_1min_end": round(os.getloadavg()[0], 2)},
    }
    print(json.dumps(result))
    if not args.out and not args.keep:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
