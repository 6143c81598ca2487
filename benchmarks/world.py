"""Rendering throughput of the built-in world: samples/s with every task's labels, new against old.

Prints one JSON line. For each image side (32, 64, 128 by default) and each renderer — ``new``
(this checkout) and ``old`` (world version 2, the numpy renderer of commit ``OLD_REF``, taken
from git history into a temporary folder and run by the same script in a child process) — it
gives samples per second in one process and over all cores (a warm process pool, each worker
rendering index blocks independently), the parallel speedup, CPU milliseconds per sample, and the
new/old throughput ratio. It also renders the same indices with both renderers and reports, for
every label whose definition did not change between the versions, the largest difference over
the samples whose scene and cameras are the same in both (the new renderer redraws the few
cameras that showed one surface or no object, and gives some objects a second shape) —
segmentations as the share of pixel pairs grouped alike — and the machine (platform, CPU count,
load).

    .venv/bin/python benchmarks/world.py [--n 200] [--sizes 32 64 128] [--old-ref 76f1df8] [--smoke]

``--smoke`` (8 samples at 32 px, 3 compared) runs the same code path in seconds, for
tests/benchmarks/test_smoke.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

# a script's folder comes first on sys.path: keep sibling benchmark modules (e.g. one named like a
# standard-library module) from shadowing the standard library
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import os  # noqa: E402

# one BLAS thread per process, as the pipeline's render workers run, set before numpy is imported
# (multithreaded BLAS spends more time synchronising on the renderer's 3x3 products than computing)
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from multiprocessing import get_context  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: The last commit with world version 2 (the numpy renderer) before world version 3.
OLD_REF = "76f1df8"
#: Labels (and images) defined the same way in world versions 2 and 4 (version 4 redefined segment_semantic,
#: class_object, class_scene and principal_curvature, and its room palettes draw other scenes: few or no
#: samples share scene and cameras with version 2 any more).
UNCHANGED = ("rgb", "view1", "view2", "view_fix", "match_a", "match_b", "rgb_noisy", "gray", "rgb_masked",
             "jigsaw_image", "depth_zbuffer", "depth_euclidean", "normal", "edge_texture", "keypoints2d",
             "keypoints3d", "fixated_pose", "point_matching", "jigsaw")
SEGMENTATIONS = ("segment_unsup2d",)


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


def measure(n: int, sizes: list[int]) -> dict[str, object]:
    """Throughput of the renderer importable as ``taskonomy`` (this process's path)."""
    cores = os.cpu_count() or 1
    result: dict[str, object] = {}
    _warm()
    with ProcessPoolExecutor(cores, mp_context=get_context("spawn")) as pool:
        for f in [pool.submit(_warm) for _ in range(cores)]:
            f.result()
        for size in sizes:
            n_single = max(10, n // 4) if size > 64 else n
            t0 = time.perf_counter()
            _, cpu_single = _render(size, 0, n_single)
            single = n_single / (time.perf_counter() - t0)
            block = max(1, n // (cores * 4))
            t0 = time.perf_counter()
            futures = [pool.submit(_render, size, s, min(block, n - s)) for s in range(0, n, block)]
            parts = [f.result() for f in futures]
            parallel = sum(p[0] for p in parts) / (time.perf_counter() - t0)
            cpu_ms = 1000 * sum(p[1] for p in parts) / sum(p[0] for p in parts)
            result[f"size{size}"] = {
                "samples_per_s_1proc": round(single, 1), "samples_per_s_all_cores": round(parallel, 1),
                "speedup": round(parallel / single, 2),
                # CPU time per sample: wall-clock figures on a shared machine depend on its load,
                # CPU time much less; cores * 1000 / cpu_ms is the throughput of idle cores
                "cpu_ms_per_sample_1proc": round(1000 * cpu_single / n_single, 2),
                "cpu_ms_per_sample_workers": round(cpu_ms, 2),
                "samples_per_s_idle_cores_estimate": round(cores * 1000 / cpu_ms, 1)}
    return result


def dump(path: str, n: int, size: int) -> None:
    """Save samples 0..n-1 at ``size`` (every key) to an .npz file, keys prefixed by the index; for a
    renderer whose objects may take a category's alternative shape, also whether one did."""
    from taskonomy.world import WorldSpec, render_sample, sample_world

    spec = WorldSpec(seed=0, size=size)
    arrays = {f"{i}/{k}": v for i in range(n) for k, v in render_sample(spec, i).items()}
    for i in range(n):
        objects = sample_world(spec, i).scene.objects
        arrays[f"{i}/alternative_shape"] = np.array(any(getattr(o, "shape", 0) for o in objects))
    np.savez(path, **arrays)  # type: ignore[arg-type]


def _same_partition(a: np.ndarray, b: np.ndarray) -> float:
    """Share of pixel pairs that two segmentations put in the same / different segments alike."""
    a, b = a.ravel(), b.ravel()
    same_a = a[:, None] == a[None, :]
    same_b = b[:, None] == b[None, :]
    return float((same_a == same_b).mean())


def compare(old_path: str, new_path: str, n: int) -> dict[str, object]:
    """Largest difference of every unchanged label over the samples with the same scene (no object took a
    shape the old world did not have) and the same cameras in both."""
    old, new = np.load(old_path), np.load(new_path)
    # old views: rgb, view1, view2, view_fix, match_a, match_b; new: rgb, view1, view2, view_fix, view_nonfix, ...
    same = [i for i in range(n) if not bool(new[f"{i}/alternative_shape"])
            and np.array_equal(old[f"{i}/meta.cameras"][:4], new[f"{i}/meta.cameras"][:4])
            and np.array_equal(old[f"{i}/meta.cameras"][4:], new[f"{i}/meta.cameras"][5:])]
    diffs = {k: max((float(np.abs(old[f"{i}/{k}"].astype(np.float64) - new[f"{i}/{k}"]).max()) for i in same),
                    default=0.0) for k in UNCHANGED}
    agree = {k: min((_same_partition(old[f"{i}/{k}"], new[f"{i}/{k}"]) for i in same), default=1.0)
             for k in SEGMENTATIONS}
    return {"samples": n, "same_scene_and_cameras": len(same), "max_abs_difference": diffs,
            "min_pixel_pair_agreement": agree}


def _old_tree(ref: str, into: Path) -> Path | None:
    """Extract the ``taskonomy`` package at git ``ref`` into ``into``; None without git history."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "taskonomy"], capture_output=True)
    if archive.returncode != 0:
        return None
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def _child(pythonpath: Path | None, *args: str) -> str:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], env=env, check=True,
                          capture_output=True, text=True, cwd=str(pythonpath or ROOT)).stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="samples per measurement")
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128])
    ap.add_argument("--old-ref", default=OLD_REF, help="git revision of the old renderer")
    ap.add_argument("--compare-n", type=int, default=40, help="samples rendered by both to compare labels")
    ap.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)  # child: print one variant's figures
    ap.add_argument("--dump", default="", help=argparse.SUPPRESS)  # child: save samples for the comparison
    ap.add_argument("--smoke", action="store_true", help="8 samples at 32 px, 3 compared: seconds (tests)")
    args = ap.parse_args()
    if args.smoke:
        args.n, args.sizes, args.compare_n = 8, [32], 3
    if args.measure:
        print(json.dumps(measure(args.n, args.sizes)))
        return
    if args.dump:
        dump(args.dump, args.compare_n, 64)
        return
    cores = os.cpu_count() or 1
    load0 = os.getloadavg()[0]
    result: dict[str, object] = {"benchmark": "world", "smoke": args.smoke, "n": args.n, "old_ref": args.old_ref}
    with tempfile.TemporaryDirectory() as tmp:
        old_root = _old_tree(args.old_ref, Path(tmp))
        variants = {"new": None, "old": old_root} if old_root is not None else {"new": None}
        figures = {name: json.loads(_child(path, "--measure", "--n", str(args.n), "--sizes",
                                           *map(str, args.sizes)).strip().splitlines()[-1])
                   for name, path in variants.items()}
        for size in args.sizes:
            row: dict[str, object] = {name: figures[name][f"size{size}"] for name in figures}
            if "old" in figures:
                new, old = figures["new"][f"size{size}"], figures["old"][f"size{size}"]
                row["new_over_old_all_cores"] = round(
                    new["samples_per_s_all_cores"] / old["samples_per_s_all_cores"], 2)
                row["new_over_old_cpu"] = round(old["cpu_ms_per_sample_workers"] / new["cpu_ms_per_sample_workers"], 2)
            result[f"size{size}"] = row
        if old_root is not None:
            paths = {name: str(Path(tmp) / f"{name}.npz") for name in variants}
            for name, path in variants.items():
                _child(path, "--dump", paths[name], "--compare-n", str(args.compare_n))
            result["labels_64px"] = compare(paths["old"], paths["new"], args.compare_n)
        else:
            result["old"] = f"git revision {args.old_ref} is not in this checkout's history: old renderer not measured"
    try:
        import torch

        threads = torch.get_num_threads()
    except ImportError:  # pragma: no cover
        threads = None
    result["machine"] = {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": cores,
                         "torch_threads": threads, "load_avg_1min_start": round(load0, 2),
                         "load_avg_1min_end": round(os.getloadavg()[0], 2)}
    result["goal"] = "200 samples/s at 64x64 with all labels on 2 cores"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
