"""Milliseconds per optimiser step at batch 64: task networks vs transfers from cached features.

Times the library's own training loop (``taskonomy.training``) through its progress callback,
so the figures include batching, autocast and the optimiser — everything a real run pays.
Prints ONE JSON line: per-variant median ms/step, ratios, and machine info.

    python -m benchmarks.train_step [--steps 12] [--batch 64] [--smoke]

``--smoke`` (3 steps at batch 4, one thread) runs the same code in seconds (figures meaningless).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from typing import Any

import numpy as np
import torch

from taskonomy.nets import ModelConfig
from taskonomy.tasks import get_task
from taskonomy.training import (
    TrainConfig,
    extract_features,
    random_encoder_state,
    resolve_device,
    train_task_network,
    train_transfer,
)
from taskonomy.training.synthetic import synthetic_split

#: Fastest step of each variant (robust to other processes sharing the cores; the median is not).
FASTEST: dict[str, float] = {}


def _median_step_ms(run: Any, steps: int, label: str = "") -> float:
    run(lambda step, total: None)  # warm-up run: kernel selection and allocator caches for these shapes
    stamps: list[float] = []
    run(lambda step, total: stamps.append(time.perf_counter()))
    deltas = np.diff(stamps)[1:]  # drop the first two steps (allocator / kernel warm-up)
    assert len(stamps) == steps
    if label:
        FASTEST[label] = round(1000 * float(deltas.min()), 2)
    return round(1000 * statistics.median(deltas.tolist()), 2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--smoke", action="store_true", help="3 steps at batch 4, one thread: seconds (tests)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.steps, args.batch = 3, 4
        torch.set_num_threads(1)
    device = resolve_device("auto")
    model = ModelConfig()
    train = TrainConfig(epochs=1, batch_size=args.batch, max_steps=args.steps, device="auto")
    n = args.batch * args.steps
    out: dict[str, Any] = {}
    for size in (32, 64):
        tasks = [get_task(x) for x in ("normal", "class_scene", "depth_zbuffer", "vanishing_point")]
        data = synthetic_split(tasks, n, size, seed=0)
        for label, name in (("task_dense", "normal"), ("task_global", "class_scene")):
            task = get_task(name)
            out[f"{label}_{size}"] = _median_step_ms(
                lambda cb, task=task, data=data: train_task_network(task, data, model=model, train=train,
                                                                    progress=cb), args.steps, f"{label}_{size}")
        feats = extract_features(random_encoder_state(model, seed=0), data, keys=["rgb"], model=model)
        for label, name in (("transfer_dense", "depth_zbuffer"), ("transfer_global", "vanishing_point")):
            target = get_task(name)
            out[f"{label}_{size}"] = _median_step_ms(
                lambda cb, t=target, f=feats, d=data: train_transfer(t, [f], d, model=model, train=train,
                                                                      progress=cb), args.steps, f"{label}_{size}")
        out[f"transfer_dense_3src_{size}"] = _median_step_ms(
            lambda cb, f=feats, d=data: train_transfer(get_task("depth_zbuffer"), [f] * 3, d, model=model,
                                                       train=train, progress=cb), args.steps,
            f"transfer_dense_3src_{size}")
    ratios = {
        f"transfer_dense_over_task_dense_{s}": round(out[f"transfer_dense_{s}"] / out[f"task_dense_{s}"], 3)
        for s in (32, 64)
    } | {
        f"transfer_global_over_task_global_{s}": round(out[f"transfer_global_{s}"] / out[f"task_global_{s}"], 3)
        for s in (32, 64)
    } | {"task_dense_64_over_32": round(out["task_dense_64"] / out["task_dense_32"], 3)}
    print(json.dumps({
        "benchmark": "train_step", "smoke": args.smoke, "unit": "ms per optimiser step (median)", "batch": args.batch,
        "steps": args.steps, "model": model.to_dict(), "ms": out, "ms_fastest": FASTEST, "ratios": ratios,
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "device": str(device),
                    "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None},
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
