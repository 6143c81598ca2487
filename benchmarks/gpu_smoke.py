"""GPU smoke test: a few training steps of every network kind, bf16 autocast on CUDA; one JSON line.

Kinds: a task network per output kind (dense pixels / labels / embedding; global vector /
class / distribution / binary; Siamese 2- and 3-view), feature extraction, multi-source
transfers into a dense, a global and a Siamese target, and the ``pixels`` baseline.

On a machine without CUDA it runs the same on the CPU in float32 and says so in its JSON
(``"cuda": false``) and exits 0; ``--require-cuda`` makes it print ``"skipped"`` instead.
Exit code 1 if any kind produced a non-finite loss or a wrong shape.

``--smoke`` shrinks it to seconds (16 px, 8 images, one step; one thread on the CPU): the same
code path, for tests/benchmarks/test_smoke.py.

    python -m benchmarks.gpu_smoke [--size 64] [--n 128] [--steps 5] [--require-cuda] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from typing import Any

import numpy as np
import torch

from taskonomy.nets import ModelConfig, build_task_network
from taskonomy.tasks import get_task
from taskonomy.training import (
    TrainConfig,
    encoder_state,
    evaluate_network,
    evaluate_transfer,
    extract_features,
    random_encoder_state,
    resolve_device,
    train_pixels_baseline,
    train_task_network,
    train_transfer,
)
from taskonomy.training.device import autocast, place
from taskonomy.training.synthetic import synthetic_split

TASK_KINDS = {
    "dense_pixels": "normal", "dense_labels": "segment_semantic", "dense_embedding": "segment_unsup2d",
    "global_vector": "room_layout", "global_class": "class_scene", "global_distribution": "class_object",
    "siamese_binary": "point_matching", "siamese_3view": "egomotion", "siamese_2view": "fixated_pose",
    "global_jigsaw": "jigsaw",
}
TRANSFER_TARGETS = {"transfer_dense": "depth_zbuffer", "transfer_global": "vanishing_point",
                    "transfer_siamese": "nonfixated_pose"}


def _machine(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "torch": torch.__version__, "cpu_count": os.cpu_count(),
                            "torch_threads": torch.get_num_threads(), "device": str(device)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["bf16_supported"] = bool(torch.cuda.is_bf16_supported())
    return info


def _autocast_dtype(device: torch.device, size: int, model: ModelConfig) -> str:
    """dtype of a conv output inside the library's autocast context (bf16 expected on CUDA)."""
    net = place(build_task_network(get_task("normal"), model, size=size), device)
    x = torch.rand(2, 3, size, size, device=device)
    with torch.no_grad(), autocast(device):
        return str(net.encoder(x).dtype).replace("torch.", "")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--n", type=int, default=128, help="images per split")
    ap.add_argument("--steps", type=int, default=5, help="optimiser steps per network")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--require-cuda", action="store_true", help="skip (exit 0) instead of running on the CPU")
    ap.add_argument("--smoke", action="store_true", help="16 px, 8 images, 1 step: seconds (tests)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.size, args.n, args.steps, args.batch = 16, 8, 1, 4

    cuda = torch.cuda.is_available()
    device = resolve_device("auto")
    if args.smoke and not cuda:
        torch.set_num_threads(1)
    result: dict[str, Any] = {"benchmark": "gpu_smoke", "smoke": args.smoke, "cuda": cuda, "machine": _machine(device)}
    if not cuda:
        if args.require_cuda:
            result.update(status="skipped", note="CUDA is not available on this machine; nothing was run")
            print(json.dumps(result))
            return 0
        result["note"] = "CUDA is not available: ran on the CPU in float32 (no bf16 autocast, no channels_last)"
        args.size, args.n = min(args.size, 32), min(args.n, 64)
    model = ModelConfig()
    train = TrainConfig(epochs=100, batch_size=args.batch, max_steps=args.steps, device="auto")
    result.update(size=args.size, n=args.n, steps=args.steps, batch=args.batch, model=model.to_dict(),
                  autocast_dtype=_autocast_dtype(device, args.size, model))
    tasks = [get_task(n) for n in (*TASK_KINDS.values(), *TRANSFER_TARGETS.values())]
    data = synthetic_split(tasks, args.n, args.size, seed=0)
    kinds: dict[str, dict[str, Any]] = {}
    ok = True

    def record(kind: str, fn: Any) -> Any:
        nonlocal ok
        _sync(device)
        t0 = time.perf_counter()
        try:
            out, extra = fn()
            _sync(device)
            kinds[kind] = {"ok": True, "seconds": round(time.perf_counter() - t0, 4), **extra}
            return out
        except Exception as exc:  # a smoke test reports every failure, then exits 1
            ok = False
            kinds[kind] = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                           "trace": traceback.format_exc(limit=3)[-800:]}
            return None

    def check(losses: np.ndarray) -> dict[str, Any]:
        if losses.shape != (args.n,) or not np.isfinite(losses).all():
            raise RuntimeError(f"bad per-image losses: shape {losses.shape}, finite {np.isfinite(losses).all()}")
        return {"test_loss": round(float(losses.mean()), 5)}

    nets = {}
    for kind, name in TASK_KINDS.items():
        task = get_task(name)

        def run_task(task: Any = task) -> Any:
            net = train_task_network(task, data, model=model, train=train)
            extra = {"task": task.name, "train_loss": round(net.metrics["train_loss"], 5),
                     "ms_per_step": round(1000 * net.metrics["seconds"] / max(net.metrics["steps"], 1), 2)}
            extra.update(check(evaluate_network(task, net, data, model=model)))
            return net, extra

        nets[kind] = record(kind, run_task)

    sources = [s for s in (nets.get("dense_pixels"), nets.get("global_vector")) if s is not None]
    feats_cache: dict[str, list[dict[str, np.ndarray]]] = {}

    def features(keys: tuple[str, ...]) -> list[dict[str, np.ndarray]]:
        states = [encoder_state(s) for s in sources] + [random_encoder_state(model, seed=0)]
        return [extract_features(st, data, keys=keys, model=model) for st in states]

    def run_features() -> Any:
        feats = features(("rgb", "view1"))
        shape = feats[0]["rgb"].shape
        if shape != (args.n, model.rep_channels, args.size // 8, args.size // 8):
            raise RuntimeError(f"feature shape {shape}")
        return feats, {"sources": len(feats), "shape": list(shape)}

    feats_cache["rgb"] = record("features", run_features) or []
    for kind, name in TRANSFER_TARGETS.items():
        target = get_task(name)

        def run_transfer(target: Any = target) -> Any:
            feats = features(target.inputs)
            net = train_transfer(target, feats, data, model=model, train=train)
            extra = {"task": target.name, "n_sources": len(feats), "train_loss": round(net.metrics["train_loss"], 5)}
            extra.update(check(evaluate_transfer(target, net, feats, data, model=model)))
            return net, extra

        record(kind, run_transfer)

    def run_pixels() -> Any:
        target = get_task("depth_zbuffer")
        net = train_pixels_baseline(target, data, model=model, train=train)
        return net, {"task": target.name, **check(evaluate_network(target, net, data, model=model))}

    record("pixels_baseline", run_pixels)
    if cuda:
        result["max_memory_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    result.update(status="ok" if ok else "failed", kinds=kinds)
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
