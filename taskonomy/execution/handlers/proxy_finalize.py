"""``proxy_finalize``: a taxonomy from training-free proxies instead of trained transfers
(``affinity.estimate: proxy``).

The graph runs only up to the cached features (render, task networks, features); this job then
scores every candidate of every target with a proxy (:mod:`taskonomy.affinity.transfer_proxies`, LogME by
default) on the transfer split's features:

* first order, own encoder and ``random`` candidates, as the transfer jobs would train them;
* higher orders (``max_order > 1``): the ``beam`` best first-order sources *by proxy*, combined
  as the plan job would (:func:`taskonomy.selection.higher_order_candidates`), each scored on its
  sources' concatenated features;
* ``self`` (full supervision) gets the own-encoder candidate's score: its representation is the
  one trained on the target itself.

Its outputs: ``proxies`` (CSV: target, sources, kind, method, score, affinity), the transfer
table with ``affinity_ahp`` = the proxy affinity (softmax of the scores per target, summing to 1
like AHP affinities) and *empty* gain and quality (not measured), and the taxonomy solved from
it at the spec's budget.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from taskonomy.affinity import TransferRow, TransferTable
from taskonomy.affinity.transfer_proxies import ProxyCache, proxy_affinities, transfer_proxy
from taskonomy.contract import ExperimentSpec, Job, ProxyFinalizeParams, build_graph
from taskonomy.execution.artifacts import StoredArrays
from taskonomy.execution.handlers._types import Progress
from taskonomy.selection import higher_order_candidates, solve_experiment
from taskonomy.store import ArtifactStore
from taskonomy.tasks import RANDOM, SELF, candidate_kind, get_task

PROXY_COLUMNS: tuple[str, ...] = ("target", "sources", "kind", "method", "score", "affinity")


def run(job: Job, store: ArtifactStore, progress: Progress) -> None:
    p = job.typed(ProxyFinalizeParams)
    arr = StoredArrays(store)
    cache = ProxyCache()  # rows and spectra shared by the targets of one source
    scored: list[dict[str, Any]] = []
    rows: list[TransferRow] = []
    for target in p.targets:
        task = get_task(target)
        members = [m for m in p.transfers if m.target == target]
        if not members:
            continue
        fkeys = {s: keys for m in members for s, keys in m.features.items()}
        labels = {task.target: arr(members[0].labels["transfer"])}

        def score(sources: tuple[str, ...], fkeys: Any = fkeys, task: Any = task, labels: Any = labels) -> float:
            feats = [arr.features(fkeys[s]["transfer"], task.inputs) for s in sources]
            return transfer_proxy(task, feats, labels, method=p.method, seed=p.seed, cache=cache)  # type: ignore[arg-type]

        scores = {tuple(m.sources): score(tuple(m.sources)) for m in members}
        if p.max_order > 1:
            ranked = [s[0] for s in sorted((s for s in scores if len(s) == 1 and s[0] not in (target, RANDOM)),
                                           key=lambda s: -scores[s])]
            for combo in map(tuple, higher_order_candidates(ranked[: p.beam], max_order=p.max_order)):
                if len(combo) >= 2 and combo not in scores:
                    scores[combo] = score(combo)
        named = {"|".join(s): v for s, v in scores.items()}
        is_target = p.roles.get(target) == "target"
        if is_target:
            named[SELF] = scores.get((target,), max(scores.values()))
        aff = proxy_affinities(named)
        entries = [(s, candidate_kind(target, s), "|".join(s)) for s in scores]
        if is_target:
            entries.append(((SELF,), "self_full_supervision", SELF))
        for sources, kind, key in entries:
            rows.append(TransferRow(target=target, sources=sources, kind=kind, affinity=aff[key], gain=None,
                                    quality=None))
            scored.append({"target": target, "sources": key, "kind": kind, "method": p.method, "score": named[key],
                           "affinity": aff[key]})
    table = TransferTable.from_rows(rows)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(PROXY_COLUMNS))
    writer.writeheader()
    writer.writerows(scored)
    store.put_bytes(p.outputs.proxies, buf.getvalue().encode(), meta={"rows": len(scored)})
    tb = io.BytesIO()
    table.write(tb, format="csv")
    store.put_bytes(p.outputs.table, tb.getvalue(), meta={"rows": len(rows)})
    store.put_json(p.outputs.taxonomy, {**solve_experiment(table, p), "source": f"proxy:{p.method}"})


def proxy_vs_trained(store: ArtifactStore, spec: ExperimentSpec, summary: dict[str, Any], *,
                     method: str = "logme") -> dict[str, float]:
    """Per target: Spearman rank correlation of proxy scores and trained AHP affinities.

    Over the target's transfer candidates of a finished run (first order, own encoder, random;
    higher orders where their features are cached): the proxy is computed from the cached
    transfer-split features, the affinities come from the run's summary. Targets with fewer than
    3 candidates, or with constant scores or affinities, are left out.
    """
    fkeys: dict[str, dict[str, str]] = {}
    lkeys: dict[str, str] = {}
    for m in build_graph(spec).transfers():
        for s, keys in m.features.items():
            fkeys[s] = keys["transfer"]
        lkeys[m.target] = m.labels["transfer"]
    arr = StoredArrays(store)
    cache = ProxyCache()
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
                                         seed=int(spec.seed), cache=cache))
            affs.append(float(a))
        if len(scores) >= 3 and np.ptp(scores) > 0 and np.ptp(affs) > 0:
            out[target] = float(spearmanr(scores, affs).statistic)
    return out
