"""Benchmark: transfer training four ways on the same data, against the machine's FLOP floor.

One run renders a small world, trains the source task networks, caches their features (none of
that is timed), then measures

(a) ``per_job``         one transfer per job, trained fully (``train_transfer`` + ``evaluate_transfer``,
                        what the pipeline's per-job mode runs, minus the artifact store), torch's
                        threads on every core; ``per_job_seed1`` repeats it with another seed: how
                        well full training agrees with *itself* (the ceiling for (c) and (d));
(b) ``fused``           every candidate in one :class:`FusedTransferTrainer` (``run --mode fused``),
                        one worker thread per core; ``fused_per_source`` / ``fused_per_target``
                        one trainer per source / target after another (the ``transfer_group``
                        jobs of ``transfer_jobs: per-source | per-target``); ``fused_stacked`` with readouts of one
                        architecture stacked into grouped kernels (the default on CUDA and in
                        bf16, not in fp32 on a CPU, where it does not pay);
    ``*_bf16``          (a) and (b) (stacked, and ``fused_bf16_unstacked``) with bf16 autocast
                        (``TrainConfig.precision``): where the CPU has native bf16 (AMX,
                        AVX-512 BF16), the fast way to train on it;
(c) ``halving``         successive halving over each target's candidates on 25% of the compute,
                        seeded by the proxies' order, stopped candidates extrapolated along their
                        learning curves (``halving_raw``: as measured);
(d) ``proxies``         LogME of every (source, target) on the cached features, no training (and
                        LogME on 64 pixels per image, and H-score);

with wall time, transfers per second, training FLOPs (forward + backward, counted per readout)
per second as a fraction of this machine's fp32 matmul rate measured in the same run (and of
its bf16 rate for the bf16 variants), peak resident memory above the start of the variant
(sampled), and agreement with (a): per-target Spearman of the affinities (AHP over the
candidates' per-image test losses; proxy affinities for (d)) and whether the BIP picks the same
roots at the default budget (6) and at a tight one.

``--device cuda`` trains every variant on the GPU: ``per_job`` and ``fused`` in the library's
CUDA default (bf16 autocast; fused readouts stacked, one thread), ``fused_unstacked``, and
``per_job_fp32`` / ``fused_fp32``; the floors are the GPU's matmul rates (strict fp32, bf16).

Prints ONE JSON line. ``--quick`` (6 tasks, small splits, 24 steps per transfer) runs in about 2
minutes on 2 idle cores; the full run (8 tasks, 60 steps per transfer) in about 8. ``--smoke`` (3
tasks, 16 px, a few steps, short matmul floors) runs every variant in seconds: the same code path
with meaningless figures, for tests/benchmarks/test_smoke.py.

    .venv/bin/python -m benchmarks.transfer [--quick | --smoke] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

# Run as a script, this folder is sys.path[0] and its queue.py would shadow the standard library's.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

# One BLAS thread for numpy (the proxies' SVDs are small; spinning BLAS threads on a shared
# machine cost far more than they bring). Set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

#: What a variant returns: per-candidate test losses, per-candidate training steps, training seconds.
Result = tuple[dict[tuple[str, str], np.ndarray], dict[tuple[str, str], float], float]

FULL_TASKS = ("autoencoding", "edge_texture", "depth_zbuffer", "depth_euclidean", "normal", "reshading",
               "principal_curvature", "segment_semantic")
#: Quick: fewer tasks, but their networks still train long enough to differ (with barely trained
#: sources every transfer is alike and full training does not even agree with itself across seeds).
QUICK_TASKS = ("autoencoding", "edge_texture", "depth_zbuffer", "normal", "reshading", "segment_semantic")
#: Smoke: a dense regression, a dense classification and an edge target (every code path, seconds).
SMOKE_TASKS = ("edge_texture", "depth_zbuffer", "segment_semantic")


def matmul_gflops(seconds: float = 1.0, n: int = 1024, dtype: torch.dtype = torch.float32,
                  device: torch.device | None = None) -> float:
    """Sustained matmul rate of ``device`` (GFLOP/s) in ``dtype``: 2·n³ per n×n product, random operands.

    On CUDA float32 is strict float32 (torch's default: TF32 off for matmuls).
    """
    dev = device or torch.device("cpu")
    a, b = torch.randn(n, n, dtype=dtype, device=dev), torch.randn(n, n, dtype=dtype, device=dev)
    torch.mm(a, b)
    _sync(dev)
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        torch.mm(a, b)
        count += 1
        if dev.type == "cuda" and count % 8 == 0:
            _sync(dev)
    _sync(dev)
    return 2 * n**3 * count / (time.perf_counter() - t0) / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _cpu_bf16() -> bool:
    """Whether this CPU has native bf16 arithmetic (AVX-512 BF16 or AMX)."""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = fh.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def peak_memory(out: dict[str, float]) -> Iterator[None]:
    """Peak resident set size above the start of the block, sampled every 5 ms (MiB)."""
    start = _rss()
    peak = [start]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss())
            stop.wait(0.005)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()
        out["peak_mib"] = round((max(peak[0], _rss()) - start) / 2**20, 1)


def _world(size: int, sizes: tuple[int, int, int], keys: list[str], tmp: str, *, workers: int
           ) -> dict[str, dict[str, np.ndarray]]:
    from taskonomy.data import SplitSizes, build_world_dataset
    from taskonomy.world import WorldSpec

    ds = build_world_dataset(WorldSpec.from_dict({"seed": 0, "size": size}), SplitSizes(*sizes), tmp,
                             workers=workers)
    return {s: ds.split(s, keys=keys) for s in ("train", "transfer", "test")}


def main() -> None:  # noqa: PLR0915 - one linear script
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="6 tasks, tiny splits: under 2 minutes on 2 cores")
    ap.add_argument("--smoke", action="store_true", help="3 tasks at 16 px, a few steps: seconds (figures meaningless)")
    ap.add_argument("--budget", type=float, default=0.25, help="successive halving's share of full compute")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: these convolutions are tiny, and on a shared machine OpenMP "
                         "threads spinning against other processes cost far more than they bring)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                    help="where every variant trains (cuda: bf16 autocast by default, stacked fused readouts, the "
                         "floor is the GPU's matmul rate)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: CUDA is not available on this machine")
    cuda = dev.type == "cuda"

    from scipy.stats import spearmanr

    from taskonomy.affinity import TransferRow, TransferTable, target_affinity
    from taskonomy.affinity.transfer_proxies import ProxyCache, proxy_affinities, transfer_proxy
    from taskonomy.nets import ModelConfig
    from taskonomy.selection import TaxonomyProblem, solve_taxonomy
    from taskonomy.tasks import get_task
    from taskonomy.training import (
        TrainConfig,
        evaluate_network,
        evaluate_transfer,
        extract_features,
        random_encoder_state,
        train_task_network,
        train_transfer,
    )
    from taskonomy.training.fused import FusedTransferTrainer, Readout, readout_step_flops
    from taskonomy.training.halving import successive_halving

    names = SMOKE_TASKS if args.smoke else QUICK_TASKS if args.quick else FULL_TASKS
    size = 16 if args.smoke else 32
    splits = (32, 32, 16) if args.smoke else (512, 128, 128) if args.quick else (1536, 192, 256)
    task_train = TrainConfig(epochs=1 if args.smoke else 4 if args.quick else 8, batch_size=64, lr=2e-3,
                             device=args.device, seed=0)
    transfer_train = TrainConfig(epochs=4 if args.smoke else 12 if args.quick else 20,
                                 batch_size=16 if args.smoke else 64, lr=2e-3, device=args.device, seed=0)
    floor_s = 0.05 if args.smoke else 1.0  # seconds of each matmul floor measurement
    model = ModelConfig(width=16, rep_channels=8)
    tasks = [get_task(t) for t in names]
    keys = sorted({k for t in tasks for k in (*t.inputs, t.target)})

    load_start = [round(x, 2) for x in os.getloadavg()]  # figures taken on a busy machine are not comparable
    t_setup = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="taskonomy-bench-transfer-") as tmp:
        data = _world(size, splits, keys, tmp, workers=1 if args.smoke else min(os.cpu_count() or 1, 16))
    _log(f"world rendered: {time.perf_counter() - t_setup:.1f} s")
    nets = {t.name: train_task_network(t, data["train"], model=model, train=task_train) for t in tasks}
    states: dict[str, Mapping[str, torch.Tensor]] = {n: {k[len("encoder."):]: v for k, v in net.state.items()
                                                         if k.startswith("encoder.")} for n, net in nets.items()}
    states["random"] = random_encoder_state(model, seed=0)
    in_keys = sorted({k for t in tasks for k in t.inputs})
    feats = {s: {sp: extract_features(st, data[sp], keys=in_keys, model=model, device=args.device)
                 for sp in ("transfer", "test")}
             for s, st in states.items()}
    self_losses = {t.name: evaluate_network(t, nets[t.name], data["test"], model=model, device=args.device)
                   for t in tasks}
    setup_s = time.perf_counter() - t_setup
    _log(f"sources trained, features cached: {setup_s:.1f} s")

    # Candidates per target: every source (first order, own encoder, random).
    sources = [*names, "random"]
    cands = [(t, s) for t in tasks for s in sources]
    labels = {sp: {t.name: {t.target: data[sp][t.target]} for t in tasks} for sp in ("transfer", "test")}
    step_flops = {t.name: readout_step_flops(t, model=model, size=size, batch_size=transfer_train.batch_size)
                  for t in tasks}
    n_tr = splits[1]
    steps_full = transfer_train.epochs * math.ceil(n_tr / transfer_train.batch_size)
    batch_share = n_tr / (math.ceil(n_tr / transfer_train.batch_size) * transfer_train.batch_size)

    def flops_of(steps: Mapping[tuple[str, str], float]) -> float:
        return sum(step_flops[t] * k * batch_share for (t, _), k in steps.items())

    # The floor: the device's matmul rate in fp32 (on a CPU every core; one thread's rate for
    # reference), and in bf16 for the bf16 variants.
    # (smoke: one core, so that threads do not fight other processes over seconds of meaningless work)
    cores = 1 if args.smoke else os.cpu_count() or 1
    floor_1 = matmul_gflops(floor_s)
    torch.set_num_threads(cores)
    n_mm = (1024 if args.smoke else 8192) if cuda else (256 if args.smoke else 1024)
    floor = fp32_floor = matmul_gflops(floor_s, n=n_mm, device=dev)
    floor_bf16 = matmul_gflops(floor_s, n=n_mm, dtype=torch.bfloat16, device=dev)
    torch.set_num_threads(args.threads)
    # The fused trainer's threads: one per core on a CPU (where one readout cannot fill the
    # cores); one on CUDA (one stream; stacking is what fills the GPU there).
    workers = 1 if cuda else cores
    results: dict[str, dict[str, Any]] = {}
    losses: dict[str, dict[tuple[str, str], np.ndarray]] = {}

    def timed(name: str, fn: Callable[[], Result], *, floor: float = floor) -> None:
        """Run a variant; its training FLOP rate is reported against the fp32 floor (and ``floor`` if other)."""
        mem: dict[str, float] = {}
        if cuda:
            _sync(dev)
            torch.cuda.reset_peak_memory_stats(dev)
            gpu_start = torch.cuda.memory_allocated(dev)
        t0 = time.perf_counter()
        with peak_memory(mem):
            out, steps, train_s = fn()
            _sync(dev)
        wall = time.perf_counter() - t0
        _log(f"{name}: {wall:.1f} s")
        losses[name] = out
        flops = flops_of(steps)
        rate = flops / max(train_s, 1e-9) / 1e9
        results[name] = {"seconds": round(wall, 3), "train_seconds": round(train_s, 3),
                         "transfers_per_s": round(len(cands) / wall, 3),
                         "train_gflop": round(flops / 1e9, 2), "achieved_gflops": round(rate, 1),
                         "floor_fraction": round(rate / fp32_floor, 4) if flops else 0.0,
                         "compute_fraction": round(sum(steps.values()) / (steps_full * len(cands)), 4),
                         "peak_mib": mem["peak_mib"]}
        if cuda:
            results[name]["peak_gpu_mib"] = round((torch.cuda.max_memory_allocated(dev) - gpu_start) / 2**20, 1)
        if floor != fp32_floor and flops:
            results[name]["bf16_floor_fraction"] = round(rate / floor, 4)

    def per_job(seed: int = transfer_train.seed, precision: str = "auto") -> Callable[[], Result]:
        """One transfer per job, as the pipeline's per-job mode runs them: torch's threads on every core."""
        cfg = transfer_train.replace(seed=seed, precision=precision)

        def go() -> Result:
            out, train_s = {}, 0.0
            torch.set_num_threads(cores)
            try:
                for t, s in cands:
                    t0 = time.perf_counter()
                    net = train_transfer(t, [feats[s]["transfer"]], labels["transfer"][t.name], model=model,
                                         train=cfg)
                    train_s += time.perf_counter() - t0
                    out[(t.name, s)] = evaluate_transfer(t, net, [feats[s]["test"]], labels["test"][t.name],
                                                         model=model, device=args.device)
            finally:
                torch.set_num_threads(args.threads)
            return out, {c: float(steps_full) for c in out}, train_s
        return go

    def fused(*, stack: bool | None = None, precision: str = "auto", by: str | None = None) -> Callable[[], Result]:
        """Every candidate in one trainer (as ``run --mode fused``), ``workers`` threads; or one trainer
        per source / per target after another (``by``: as ``transfer_jobs: per-source | per-target``
        jobs run on one worker)."""
        cfg = transfer_train.replace(precision=precision)
        keys = [None] if by is None else sources if by == "source" else [t.name for t in tasks]

        def go() -> Result:
            out, train_s = {}, 0.0
            for key in keys:
                part = cands if key is None else [(t, s) for t, s in cands if (s if by == "source" else t.name) == key]
                readouts = [Readout(t, [feats[s]["transfer"]], labels["transfer"][t.name]) for t, s in part]
                t0 = time.perf_counter()
                tr = FusedTransferTrainer(readouts, model=model, train=cfg, workers=workers, stack=stack)
                tr.run()
                tr.close()
                train_s += time.perf_counter() - t0
                out.update({(t.name, s): tr.evaluate(i, [feats[s]["test"]], labels["test"][t.name])
                            for i, (t, s) in enumerate(part)})
            return out, {c: float(steps_full) for c in out}, train_s
        return go

    proxy: dict[tuple[str, str], float] = {}
    proxy_alt: dict[str, dict[tuple[str, str], float]] = {}

    def proxies(method: str = "logme", ppi: int = 16, into: dict[tuple[str, str], float] | None = None
                ) -> Callable[[], tuple[dict[tuple[str, str], np.ndarray], dict[tuple[str, str], float], float]]:
        dest = proxy if into is None else into

        def go() -> tuple[dict[tuple[str, str], np.ndarray], dict[tuple[str, str], float], float]:
            cache = ProxyCache()  # one source's rows and spectrum serve all its targets
            for t, s in cands:
                dest[(t.name, s)] = transfer_proxy(t, [feats[s]["transfer"]], labels["transfer"][t.name],
                                                   method=method, pixels_per_image=ppi,  # type: ignore[arg-type]
                                                   cache=cache)
            return {}, {}, 0.0
        return go

    def halving() -> tuple[dict[tuple[str, str], np.ndarray], dict[tuple[str, str], float], float]:
        readouts = [Readout(t, [feats[s]["transfer"]], labels["transfer"][t.name]) for t, s in cands]
        tr = FusedTransferTrainer(readouts, model=model, train=transfer_train, workers=workers)
        groups = {t.name: [i for i, (u, _) in enumerate(cands) if u.name == t.name] for t in tasks}
        prior = [proxy[(t.name, s)] for t, s in cands]
        t0 = time.perf_counter()
        res = successive_halving(tr, groups, lambda i: tr.evaluate(i, [feats[cands[i][1]]["test"]],
                                                                    labels["test"][cands[i][0].name]),
                                 budget=args.budget, prior=prior, extrapolate=True)
        tr.close()
        train_s = time.perf_counter() - t0  # includes the rung evaluations
        results["_halving"] = {"eta": res.eta, "rungs": res.rungs, "dropped_per_round": [len(r["dropped"])
                                                                                        for r in res.rounds]}
        assert res.raw_losses is not None
        losses["halving_raw"] = {(t.name, s): res.raw_losses[i] for i, (t, s) in enumerate(cands)}
        return ({(t.name, s): res.losses[i] for i, (t, s) in enumerate(cands)},
                {(t.name, s): float(res.steps[i]) for i, (t, s) in enumerate(cands)}, train_s)

    timed("per_job", per_job(), floor=floor_bf16 if cuda else floor)  # 'auto': bf16 on CUDA, fp32 on a CPU
    # The noise floor of the reference itself: the same transfers trained fully with another seed.
    timed("per_job_seed1", per_job(transfer_train.seed + 1), floor=floor_bf16 if cuda else floor)
    # Grouped jobs (transfer_jobs: per-source / per-target), the precision's default stacking.
    timed("fused_per_source", fused(by="source"), floor=floor_bf16 if cuda else floor)
    timed("fused_per_target", fused(by="target"), floor=floor_bf16 if cuda else floor)
    if cuda:
        # The defaults (bf16, stacked) against each of their parts: unstacked, and fp32.
        timed("fused", fused(), floor=floor_bf16)
        timed("fused_unstacked", fused(stack=False), floor=floor_bf16)
        timed("per_job_fp32", per_job(precision="fp32"))
        timed("fused_fp32", fused(precision="fp32"))
    else:
        timed("fused", fused())  # the default: readouts alone in fp32 on a CPU
        timed("fused_stacked", fused(stack=True))
        timed("per_job_bf16", per_job(precision="bf16"), floor=floor_bf16)
        timed("fused_bf16", fused(precision="bf16"), floor=floor_bf16)
        timed("fused_bf16_unstacked", fused(stack=False, precision="bf16"), floor=floor_bf16)
    timed("proxies", proxies())
    for alt, method, ppi in (("proxies_logme_64px", "logme", 64), ("proxies_hscore", "hscore", 16)):
        proxy_alt[alt] = {}
        timed(alt, proxies(method, ppi, proxy_alt[alt]))
    timed("halving", halving)
    results["halving"].update(results.pop("_halving"))

    # Affinities and taxonomies.
    def table_of(aff: Mapping[str, Mapping[str, float]]) -> Any:
        rows = []
        for t in tasks:
            for s, a in aff[t.name].items():
                kind = ("self_full_supervision" if s == "self" else "own_encoder_small_data" if s == t.name
                        else "random_encoder" if s == "random" else "first_order")
                rows.append(TransferRow(target=t.name, sources=(s,), kind=kind, affinity=float(a), gain=None,
                                        quality=None))
        return TransferTable.from_rows(rows)

    def trained_affinities(name: str) -> dict[str, dict[str, float]]:
        out = {}
        for t in tasks:
            mat = np.stack([losses[name][(t.name, s)] for s in sources] + [self_losses[t.name]])
            aff = target_affinity(mat, self_index=len(sources), pixels_index=None).affinity
            out[t.name] = {**{s: float(aff[i]) for i, s in enumerate(sources)}, "self": float(aff[-1])}
        return out

    trained = ("per_job", "per_job_seed1", "fused_per_source", "fused_per_target",
               *(("fused", "fused_unstacked", "per_job_fp32", "fused_fp32") if cuda else
                 ("fused", "fused_stacked", "per_job_bf16", "fused_bf16", "fused_bf16_unstacked")),
               "halving", "halving_raw")
    affs = {name: trained_affinities(name) for name in trained}
    results["halving_raw"] = {"note": "the same halving run with the stopped candidates' losses as measured; "
                                      "'halving' (the default) extrapolates them along their learning curves"}
    # Proxies: softmax-normalised LogME over the transfer candidates; ``self`` scored as the own encoder.
    paff = {}
    for t in tasks:
        sc = {s: proxy[(t.name, s)] for s in sources}
        paff[t.name] = proxy_affinities({**sc, "self": sc[t.name]})
    affs["proxies"] = paff
    for alt, scores in proxy_alt.items():
        affs[alt] = {}
        for t in tasks:
            sc = {s: scores[(t.name, s)] for s in sources}
            affs[alt][t.name] = proxy_affinities({**sc, "self": sc[t.name]})

    def roots(aff: Mapping[str, Mapping[str, float]], budget: float) -> list[str]:
        prob = TaxonomyProblem(targets=tuple(names), source_only=("random",), budget=budget, max_order=1)
        return sorted(solve_taxonomy(table_of(aff), prob).roots)

    tight = float(max(2, len(names) // 3))
    ref = affs["per_job"]
    ref_roots = {b: roots(ref, b) for b in (6.0, tight)}
    for name in (*trained[1:], "proxies", *proxy_alt):
        rhos = []
        for t in tasks:
            ra = [ref[t.name][s] for s in sources]
            rb = [affs[name][t.name][s] for s in sources]
            rhos.append(float(spearmanr(ra, rb).statistic))
        r = results[name]
        r["spearman_per_target"] = {t.name: round(x, 3) for t, x in zip(tasks, rhos, strict=True)}
        r["spearman_mean"] = round(float(np.mean(rhos)), 3)
        for bud in (6.0, tight):
            got = roots(affs[name], bud)
            r[f"roots_budget_{bud:g}"] = got
            r[f"same_roots_budget_{bud:g}"] = got == ref_roots[bud]
    results["per_job"].update({f"roots_budget_{b:g}": v for b, v in ref_roots.items()})
    # Fused against one transfer per job at the same precision: equal results up to rounding.
    same_precision = {"fused_per_source": "per_job", "fused_per_target": "per_job", **(
        {"fused": "per_job", "fused_unstacked": "per_job", "fused_fp32": "per_job_fp32"} if cuda else
        {"fused": "per_job", "fused_stacked": "per_job", "fused_bf16": "per_job_bf16"})}
    for name, base in same_precision.items():
        results[name][f"max_abs_loss_diff_vs_{base}"] = max(
            float(np.max(np.abs(losses[name][c] - losses[base][c]))) for c in losses[base])

    def ratio(base: str, other: str, key: str = "seconds") -> float:
        return round(results[base][key] / max(results[other][key], 1e-9), 2)

    speed = {f"{k}_speedup_vs_per_job": ratio("per_job", k)
             for k in ("fused", "fused_per_source", "fused_per_target", "halving", "proxies",
                       *(("fused_unstacked",) if cuda else ("fused_stacked", "per_job_bf16", "fused_bf16")))}
    speed["fused_train_speedup_vs_per_job"] = ratio("per_job", "fused", "train_seconds")
    if cuda:
        speed["fused_fp32_speedup_vs_per_job_fp32"] = ratio("per_job_fp32", "fused_fp32")
        speed["stacking_speedup_bf16"] = ratio("fused_unstacked", "fused")
    else:
        speed["fused_bf16_speedup_vs_per_job_bf16"] = ratio("per_job_bf16", "fused_bf16")
        speed["stacking_speedup_fp32"] = ratio("fused", "fused_stacked")
        speed["stacking_speedup_bf16"] = ratio("fused_bf16_unstacked", "fused_bf16")
    print(json.dumps({
        "benchmark": "transfer", "quick": args.quick, "smoke": args.smoke, "tasks": list(names), "size": size,
        "splits": dict(zip(("train", "transfer", "test"), splits, strict=True)),
        "candidates": len(cands), "steps_per_transfer": steps_full, "batch_size": transfer_train.batch_size,
        "readout_step_gflop": {k: round(v / 1e9, 3) for k, v in step_flops.items()},
        "matmul_gflops": round(fp32_floor, 1), "matmul_gflops_bf16": round(floor_bf16, 1),
        "matmul_gflops_1_thread": round(floor_1, 1), "setup_seconds": round(setup_s, 2),
        "fused_workers": workers,
        "cpu_bf16": _cpu_bf16(),
        "variants": results, **speed,
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__, "device": args.device, "gpu": torch.cuda.is_available(),
                    **({"gpu_name": torch.cuda.get_device_name(dev)} if cuda else {}),
                    "load_average_start": load_start, "load_average_end": [round(x, 2) for x in os.getloadavg()]},
    }))


if __name__ == "__main__":
    main()
