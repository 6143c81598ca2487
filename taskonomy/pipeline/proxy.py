"""``taskonomy run --proxy-only``: a taxonomy from training-free proxies instead of trained transfers.

Runs the experiment's graph only up to the cached features (render, task networks, features;
resumable like a full run), then scores every candidate of every target with a proxy
(:mod:`taskonomy.affinity.proxies`, LogME by default) on the transfer split's features:

* first order, own encoder and ``random`` candidates — as the full run's transfer jobs;
* higher orders (``max_order > 1``): the ``beam`` best first-order sources *by proxy*, combined
  as the full run's plan would (:func:`taskonomy.selection.higher_order_candidates`), each scored
  on its sources' concatenated features;
* ``self`` (full supervision) gets the own-encoder candidate's score — its representation is
  the one trained on the target itself.

Outputs in ``OUT``: ``proxies.csv`` (target, sources, kind, method, score, affinity),
``transfers.csv`` — the transfer table with ``affinity_ahp`` = the proxy affinity (softmax of
the scores per target, summing to 1 like AHP affinities) and *empty* gain and quality (not
measured: no transfer was trained, and the table format's "not measured" is an empty cell) —
and ``taxonomy.json`` solved from it at the experiment's budget (objective: affinity).
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from taskonomy.affinity import TransferRow, TransferTable
from taskonomy.affinity.proxies import PROXY_METHODS, ProxyCache, proxy_affinities, transfer_proxy
from taskonomy.errors import InvalidInputError
from taskonomy.files import atomic_write, check_writable_dir
from taskonomy.pipeline.finalize import solve
from taskonomy.pipeline.graph import build_graph
from taskonomy.pipeline.jobs import StoredArrays
from taskonomy.pipeline.local import run_stages
from taskonomy.pipeline.run import default_store_url, validate_experiment
from taskonomy.pipeline.spec import ExperimentSpec
from taskonomy.selection import higher_order_candidates
from taskonomy.store import ArtifactStore
from taskonomy.tasks import RANDOM, candidate_kind, get_task

PROXY_STAGES: tuple[str, ...] = ("render", "train", "features")


@dataclass
class ProxyRunResult:
    """Where the proxy-only results went."""

    out_dir: str
    proxies_path: str
    table_path: str
    taxonomy_path: str
    taxonomy: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)
    n_scored: int = 0


def run_proxy_only(spec: ExperimentSpec, *, out_dir: str | os.PathLike[str], store: ArtifactStore | None = None,
                   method: str = "logme", show_progress: bool = False) -> ProxyRunResult:
    """Features only, then proxies → table → taxonomy (see the module docstring)."""
    if method not in PROXY_METHODS:
        raise InvalidInputError(f"unknown proxy method {method!r}; known: {', '.join(PROXY_METHODS)}")
    validate_experiment(spec, out_dir=out_dir)
    out = check_writable_dir(out_dir)
    store = store or ArtifactStore(default_store_url(out))
    graph = build_graph(spec)
    t0 = time.perf_counter()
    run_stages(graph, store, PROXY_STAGES, show_progress=show_progress)
    seconds = {"features": time.perf_counter() - t0}

    t1 = time.perf_counter()
    fin = next(j for j in graph.jobs.values() if j.kind == "finalize")
    transfer_jobs = [j for j in graph.jobs.values() if j.kind == "transfer"]
    arr = StoredArrays(store)
    proxy_cache = ProxyCache()  # rows and spectra shared by the targets of one source
    scored: list[dict[str, Any]] = []
    rows: list[Any] = []
    for target in fin.params["targets"]:
        task = get_task(target)
        jobs = [j for j in transfer_jobs if j.params["target"] == target]
        if not jobs:
            continue
        fkeys = {s: keys for j in jobs for s, keys in j.params["features"].items()}
        labels = {task.target: arr(jobs[0].params["labels"]["transfer"])}

        def feats(sources: tuple[str, ...], fkeys: Any = fkeys, inputs: tuple[str, ...] = task.inputs
                  ) -> list[dict[str, np.ndarray]]:
            return [arr.features(fkeys[s]["transfer"], inputs) for s in sources]

        scores: dict[tuple[str, ...], float] = {}
        for j in jobs:
            srcs = tuple(j.params["sources"])
            scores[srcs] = transfer_proxy(task, feats(srcs), labels, method=method,  # type: ignore[arg-type]
                                          seed=int(spec.seed), cache=proxy_cache)
        if spec.max_order > 1:
            first = sorted((s for s in scores if len(s) == 1 and s[0] not in (target, RANDOM)),
                           key=lambda s: -scores[s])
            ranked = [s[0] for s in first]
            for combo in higher_order_candidates(ranked[: spec.beam], max_order=spec.max_order):
                combo = tuple(combo)
                if len(combo) >= 2 and combo not in scores:
                    scores[combo] = transfer_proxy(task, feats(combo), labels, method=method,  # type: ignore[arg-type]
                                                   seed=int(spec.seed), cache=proxy_cache)
        named = {"|".join(s): v for s, v in scores.items()}
        is_target = fin.params["roles"].get(target) == "target"
        if is_target:
            own = scores.get((target,))
            named["self"] = own if own is not None else max(scores.values())
        aff = proxy_affinities(named)
        for s, v in scores.items():
            kind = candidate_kind(target, s)
            key = "|".join(s)
            rows.append(TransferRow(target=target, sources=s, kind=kind, affinity=aff[key], gain=None, quality=None))
            scored.append({"target": target, "sources": key, "kind": kind, "method": method, "score": v,
                           "affinity": aff[key]})
        if is_target:
            rows.append(TransferRow(target=target, sources=("self",), kind="self_full_supervision",
                                    affinity=aff["self"], gain=None, quality=None))
            scored.append({"target": target, "sources": "self", "kind": "self_full_supervision", "method": method,
                           "score": named["self"], "affinity": aff["self"]})
    table = TransferTable.from_rows(rows)
    seconds["proxies"] = time.perf_counter() - t1
    taxonomy = solve(table, fin.params)
    proxies_path = os.path.join(out, "proxies.csv")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["target", "sources", "kind", "method", "score", "affinity"])
    w.writeheader()
    w.writerows(scored)
    atomic_write(proxies_path, buf.getvalue().encode())
    table_path = os.path.join(out, "transfers.csv")
    tb = io.BytesIO()
    table.write(tb, format="csv")
    atomic_write(table_path, tb.getvalue())
    taxonomy_path = os.path.join(out, "taxonomy.json")
    atomic_write(taxonomy_path, json.dumps({**taxonomy, "source": f"proxy:{method}"}, indent=2).encode())
    return ProxyRunResult(out_dir=out, proxies_path=proxies_path, table_path=table_path, taxonomy_path=taxonomy_path,
                          taxonomy=taxonomy, seconds=seconds, n_scored=len(scored))


def proxy_vs_trained(store: ArtifactStore, spec: ExperimentSpec, summary: dict[str, Any], *,
                     method: str = "logme") -> dict[str, float]:
    """Per target: Spearman rank correlation of proxy scores and trained AHP affinities.

    Over the target's transfer candidates of a finished run (first order, own encoder, random;
    higher orders where their features are cached): the proxy is computed from the cached
    transfer-split features, the affinities come from the run's summary. Targets with fewer than
    3 candidates, or with constant scores or affinities, are left out.
    """
    graph = build_graph(spec)
    fkeys: dict[str, dict[str, str]] = {}
    lkeys: dict[str, str] = {}
    for j in graph.jobs.values():
        if j.kind == "transfer":
            for s, keys in j.params["features"].items():
                fkeys[s] = keys["transfer"]
            lkeys[j.params["target"]] = j.params["labels"]["transfer"]
    arr = StoredArrays(store)
    proxy_cache = ProxyCache()
    out: dict[str, float] = {}
    for target, info in summary.get("targets", {}).items():
        if target not in lkeys:
            continue
        task = get_task(target)
        scores, affs = [], []
        for c, a in zip(info["candidates"], info["affinity"], strict=True):
            srcs = tuple(c["sources"])
            if c["kind"] == "self_full_supervision" or any(s not in fkeys for s in srcs):
                continue
            feats = [arr.features(fkeys[s], task.inputs) for s in srcs]
            scores.append(transfer_proxy(task, feats, {task.target: arr(lkeys[target])}, method=method,  # type: ignore[arg-type]
                                         seed=int(spec.seed), cache=proxy_cache))
            affs.append(float(a))
        if len(scores) >= 3 and np.ptp(scores) > 0 and np.ptp(affs) > 0:
            out[target] = float(spearmanr(scores, affs).statistic)
    return out
