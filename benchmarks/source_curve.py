"""How many images should the task networks see? Agreement with the paper against training images and time.

The paper trains each task-specific network on about 120 times the images a transfer sees (120k
against 1k); the transfers then read a frozen, well-trained representation. This benchmark runs a
preset (default quick) once per point ``N:E`` (N training images, E epochs over them), everything
else unchanged, and validates each run against the paper (``taskonomy.validity``): mean Spearman
of the first-order affinities, the agreement on the targets the paper reproduces (when the
validity module reports it), the best source in the paper's top 3, from the target's own family,
against the random encoder. Prints ONE JSON line: per point the images, epochs, the ratio of
training to transfer images, the train stage's and the whole run's seconds, and those figures;
and the machine.

    .venv/bin/python -m benchmarks.source_curve [--preset quick] [--points 1024:10,4096:4,8192:3,16384:2]
                                               [--out DIR] [--smoke]

``--smoke`` runs two points of a tiny experiment in seconds (the same code path).
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
import shutil  # noqa: E402
import tempfile  # noqa: E402
from typing import Any  # noqa: E402

#: Figures of the validity summary reported per point (those present in the summary).
FIGURES: tuple[str, ...] = (
    "agreement_share_of_papers_own", "mean_spearman_vs_paper_16k_reproduced", "mean_spearman_vs_reference",
    "share_best_in_reference_top3", "share_best_from_own_family", "share_3d_best_from_own_family",
    "share_beats_random", "tree_ari_vs_families", "random_policies_min_percentile",
)

#: A tiny experiment for --smoke (16 px, two tasks, one-epoch networks).
SMOKE_SPEC: dict[str, Any] = {
    "tasks": ["normal", "depth_zbuffer"], "dataset": {"kind": "world", "size": 16, "seed": 3},
    "splits": {"train": 32, "transfer": 16, "test": 8},
    "model": {"width": 8, "rep_channels": 4, "blocks": 1, "transfer_width": 8, "hidden": 16},
    "train": {"epochs": 1, "batch_size": 16}, "transfer": {"epochs": 1, "batch_size": 16}, "budget": 1,
}


def parse_points(text: str) -> list[tuple[int, int]]:
    """``"1024:10,8192:3"`` → ``[(1024, 10), (8192, 3)]`` (images, epochs)."""
    points = []
    for part in text.split(","):
        n, _, e = part.strip().partition(":")
        if not (n.isdigit() and e.isdigit()) or int(n) < 1 or int(e) < 1:
            raise SystemExit(f"--points: expected IMAGES:EPOCHS pairs like 8192:3, got {part!r}")
        points.append((int(n), int(e)))
    return points


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="quick", help="the preset every point starts from")
    ap.add_argument("--points", default="1024:10,4096:4,8192:3,16384:2", help="IMAGES:EPOCHS of the task networks")
    ap.add_argument("--out", default=None, help="keep the runs here (default: a temporary folder)")
    ap.add_argument("--smoke", action="store_true", help="a tiny experiment, two points, seconds")
    args = ap.parse_args()

    from benchmarks.validity import _run  # one way to run `taskonomy` in a child process and read its JSON line
    from taskonomy.contract import preset
    from taskonomy.validity import validate_run

    base = dict(SMOKE_SPEC) if args.smoke else preset(args.preset).model_dump(mode="json")
    points = [(32, 1), (48, 1)] if args.smoke else parse_points(args.points)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="source-curve-"))
    out.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()[0]
    rows = []
    try:
        for n, epochs in points:
            spec = json.loads(json.dumps(base))
            spec["splits"]["train"] = n
            spec["train"]["epochs"] = epochs
            spec["name"] = f"{spec.get('name', 'curve')}-{n}x{epochs}"
            cfg = out / f"{n}x{epochs}.json"
            cfg.write_text(json.dumps(spec))
            run_dir = out / f"{n}x{epochs}"
            workers = ["--workers", "1"] if args.smoke else []  # spawning workers costs more than tiny nets
            wall, _cpu, line = _run(["run", "--config", str(cfg), "--out", str(run_dir), "--quiet", "--no-report",
                                     *workers])
            summary = validate_run(run_dir, bootstrap=20 if args.smoke else 200,
                                   policies=50 if args.smoke else 1000).to_dict()["summary"]
            stages = line.get("stage_seconds", {})
            rows.append({
                "train_images": n, "epochs": epochs, "image_visits": n * epochs,
                "train_over_transfer_images": round(n / int(spec["splits"]["transfer"]), 1),
                "train_stage_seconds": stages.get("train"), "render_seconds": stages.get("render"),
                "seconds": round(wall, 1), **{k: summary[k] for k in FIGURES if k in summary},
            })
            print(json.dumps({"point": rows[-1]}), file=sys.stderr, flush=True)
    finally:
        if not args.out:
            shutil.rmtree(out, ignore_errors=True)
    print(json.dumps({
        "benchmark": "source_curve", "preset": "smoke" if args.smoke else args.preset, "points": rows,
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
                    "load_avg_1min_start": round(load0, 2), "load_avg_1min_end": round(os.getloadavg()[0], 2)},
    }))


if __name__ == "__main__":
    main()
