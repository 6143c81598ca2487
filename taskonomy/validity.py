"""Is a measured taxonomy right? The validity report of a run.

Four questions, each answered per target and summarised, then the paper's own claims:

* **Agreement with a published table** (default ``paper-16k``, names mapped by alias): the
  Spearman correlation between our first-order AHP affinities and the table's over the
  first-order sources both have, and whether our best first-order source is among the table's
  top 3 of those shared sources.
* **Families**: whether the best first-order source belongs to the target's own family of the
  paper's task-similarity tree (:data:`taskonomy.tasks.FAMILIES`).
* **Beating chance**: the best first-order source's win rate against the ``random`` encoder
  baseline over the test images, with a bootstrap percentile interval (``bootstrap`` resamples
  of the images); *clearly above* 0.5 when the interval's lower end is.
* **Stability** (given a second run of the same experiment with another seed): the Spearman
  correlation of the two runs' first-order affinities per target, and whether the taxonomy's
  roots agree at budgets 2 to 8.

The paper's claims, measured on the run as the paper measured them on its own data:

* **Agreement on the targets the paper reproduces.** The paper's two data regimes disagree on
  some targets: the Spearman correlation of its 1k and 16k first-order affinities (over the
  sources both have) is 0.65 over all 22 targets, between -0.40 and -0.11 on the four multi-view
  pose rows (egomotion, fixated_pose, nonfixated_pose, point_matching) and 0.86 on the other 18.
  A target is *reproduced by the paper* when that Spearman is at least
  :data:`REPRODUCED_SPEARMAN`. On the reproduced targets the run has, the headline is
  ``ours / paper's``: our mean Spearman against ``paper-16k`` (over the sources both have)
  divided by the paper's own 1k-vs-16k mean Spearman on the same targets, over the same sources
  (those our comparison uses and paper-1k has), so both means compare like with like. The
  unreproduced (pose) rows are reported apart and steer nothing.
* **Significance** (:mod:`taskonomy.selection._random_policies`): at budgets 1 to 8, the
  taxonomy's mean gain and quality as a percentile among random feasible first-order policies
  of the same budget.
* **The task-similarity tree** (:mod:`taskonomy.affinity._similarity`): the tasks clustered by
  their transfer-out affinities (average linkage, ``1 − Pearson`` of row-centred log
  affinities), cut into 4 clusters and compared with the four families by the adjusted Rand
  index; the same index on ``paper-16k`` over the same tasks, and over all its 25 tasks (0.69),
  is the reference.
* **Higher order**: the share of targets with higher-order candidates whose best higher-order
  candidate has a higher AHP affinity than their best first-order one (the same tournament).
  The paper's tables: 100% (16k), 95% (1k).
* **Gain**: the share of first-order transfers whose gain (win rate against the from-scratch
  ``pixels`` network) exceeds 0.5. The paper's tables: 0.57 (16k), 0.45 (1k).

"Best first-order source" is the first-order candidate of highest AHP affinity. Sources that
appear in only one of two compared tables are left out of that comparison.

References: Zamir et al., "Taskonomy: Disentangling Task Transfer Learning", CVPR 2018
(Fig. 10: the significance test; Fig. 13: the task-similarity tree; its published affinities
are ``paper-16k`` and ``paper-1k``).
"""

from __future__ import annotations

import functools
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from taskonomy.affinity import BUILTIN_TABLES, TransferTable, adjusted_rand_index, load_table, task_similarity_tree
from taskonomy.contract import FinalizeParams, build_graph
from taskonomy.errors import InvalidInputError
from taskonomy.files import atomic_write
from taskonomy.modelbank import open_experiment
from taskonomy.selection import (
    SIGNIFICANCE_BUDGETS,
    PolicyPercentile,
    experiment_problem,
    random_policy_percentiles,
    solve_taxonomy,
)
from taskonomy.tasks import get_task, registry

#: Budgets at which the roots of two runs' taxonomies are compared.
STABILITY_BUDGETS: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8)
#: How many of the reference's best sources count as agreeing.
TOP_K = 3
#: The file ``taskonomy validate`` writes into a run directory.
VALIDITY_FILE = "validity.json"
#: A target is reproduced by the paper when its 1k and 16k first-order affinities agree at least
#: this well (Spearman over the sources both tables have).
REPRODUCED_SPEARMAN = 0.5
#: The paper's two tables, compared with each other for the reproduced targets.
PAPER_16K, PAPER_1K = "paper-16k", "paper-1k"
#: Clusters the task-similarity tree is cut into: the four families.
TREE_CLUSTERS = 4
#: Random feasible policies per budget in the significance test (the paper's number).
POLICIES = 1000


@dataclass
class TargetValidity:
    """The validity figures of one target (``None`` where a figure cannot be computed)."""

    target: str
    family: str
    best_source: str | None
    best_source_family: str | None
    shared_sources: int = 0
    spearman_vs_reference: float | None = None
    reference_top: list[str] = field(default_factory=list)
    best_in_reference_top: bool | None = None
    same_family: bool | None = None
    winrate_vs_random: float | None = None
    winrate_vs_random_low: float | None = None
    winrate_vs_random_high: float | None = None
    beats_random: bool | None = None
    spearman_between_seeds: float | None = None
    paper_1k_vs_16k: float | None = None
    paper_reproduces: bool | None = None
    spearman_vs_paper_16k: float | None = None
    paper_1k_vs_16k_on_our_sources: float | None = None
    best_higher_order: list[str] | None = None
    higher_order_beats_first_order: bool | None = None


#: Every key of ``validity.json``'s ``summary``, with its meaning (None = cannot be computed, e.g.
#: no second seed, no per-image losses, no higher-order candidates, no taxonomy problem).
SUMMARY_KEYS: dict[str, str] = {
    "targets": "targets of the run's table",
    "mean_spearman_vs_reference": "mean per-target Spearman of first-order affinities vs the reference table",
    "share_best_in_reference_top3": "share of targets whose best first-order source is in the reference's top 3",
    "share_best_from_own_family": "share of targets whose best first-order source is from the target's family",
    "share_3d_best_from_own_family": "the same over the 3D targets",
    "every_3d_target_best_from_own_family": "whether every 3D target's best source is 3D",
    "share_beats_random": "share of targets whose best source clearly beats the random encoder",
    "mean_spearman_between_seeds": "mean per-target Spearman of first-order affinities between two seeds",
    "roots_agree_at_budget_6": "whether the two seeds' taxonomies have the same roots at budget 6",
    "roots_agree": "the same per budget 2 to 8",
    "reproduced_targets": "targets of ours the paper reproduces (paper-1k vs paper-16k Spearman >= 0.5)",
    "mean_spearman_vs_paper_16k_reproduced": "our mean Spearman vs paper-16k on the reproduced targets",
    "paper_1k_vs_16k_reproduced": "the paper's 1k-vs-16k mean Spearman on the same targets, same sources",
    "agreement_share_of_papers_own": "the headline: the first of the two divided by the second",
    "unreproduced_targets": "targets of ours the paper does not reproduce (the multi-view pose rows)",
    "mean_spearman_vs_paper_16k_unreproduced": "our mean Spearman vs paper-16k on them (steers nothing)",
    "paper_1k_vs_16k_unreproduced": "the paper's 1k-vs-16k mean Spearman on them, same sources",
    "share_higher_order_beats_first_order": "share of targets with higher-order candidates whose best one has a "
                                            "higher affinity than the best first-order one",
    "share_first_order_gain_above_half": "share of first-order transfers whose gain exceeds 0.5",
    "tree_tasks": "tasks in the task-similarity tree (first-order sources with a family)",
    "tree_ari_vs_families": "adjusted Rand index of the tree cut into 4 clusters vs the four families",
    "paper_16k_tree_ari_vs_families": "the same index on paper-16k, over the same tasks",
    "paper_16k_tree_ari_vs_families_all_tasks": "the same index on paper-16k over all its 25 tasks (0.69)",
    "random_policies": "random feasible policies per budget in the significance test",
    "random_policies_gain_percentile": "per budget 1-8: the taxonomy's mean gain as a percentile among them",
    "random_policies_quality_percentile": "per budget 1-8: the taxonomy's mean quality as a percentile",
    "random_policies_min_percentile": "the lowest of those percentiles, gain and quality, over budgets 1-8",
}


def _mean(values: Sequence[float | None]) -> float | None:
    v = [x for x in values if x is not None and not math.isnan(x)]
    return float(np.mean(v)) if v else None


def _share(values: Sequence[bool | None]) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


def _paired_means(ts: Sequence[TargetValidity]) -> tuple[float | None, float | None]:
    """(our mean Spearman vs paper-16k, the paper's 1k-vs-16k mean on our sources) over the
    targets where both are defined."""
    pairs = [(t.spearman_vs_paper_16k, t.paper_1k_vs_16k_on_our_sources) for t in ts
             if t.spearman_vs_paper_16k is not None and t.paper_1k_vs_16k_on_our_sources is not None]
    if not pairs:
        return None, None
    return float(np.mean([a for a, _ in pairs])), float(np.mean([b for _, b in pairs]))


@dataclass
class ValidityReport:
    """Per-target figures, the paper's claims and their summary (see the module docstring)."""

    reference: str
    targets: list[TargetValidity]
    roots_agree: dict[int, bool] | None = None
    roots: dict[str, dict[int, list[str]]] | None = None
    bootstrap: int = 0
    share_first_order_gain_above_half: float | None = None
    tree: dict[str, Any] | None = None              # ours: tasks, families, linkage, clusters, ARI
    paper_tree: dict[str, Any] | None = None        # paper-16k over the same tasks, and over all of its
    random_policies: list[PolicyPercentile] | None = None
    policies: int = 0

    def summary(self) -> dict[str, Any]:
        """The figures of :data:`SUMMARY_KEYS`, in that order."""
        ts = self.targets
        three_d = [t for t in ts if t.family == "3d"]
        reproduced = [t for t in ts if t.paper_reproduces is True]
        unreproduced = [t for t in ts if t.paper_reproduces is False]
        ours_r, paper_r = _paired_means(reproduced)
        ours_u, paper_u = _paired_means(unreproduced)
        pols = self.random_policies
        gain_pct = None if pols is None else {f"{p.budget:g}": p.gain_percentile for p in pols}
        qual_pct = None if pols is None else {f"{p.budget:g}": p.quality_percentile for p in pols}
        all_pct = [] if pols is None else [v for p in pols for v in (p.gain_percentile, p.quality_percentile)]
        tree, paper_tree = self.tree or {}, self.paper_tree or {}
        return {
            "targets": len(ts),
            "mean_spearman_vs_reference": _mean([t.spearman_vs_reference for t in ts]),
            "share_best_in_reference_top3": _share([t.best_in_reference_top for t in ts]),
            "share_best_from_own_family": _share([t.same_family for t in ts]),
            "share_3d_best_from_own_family": _share([t.same_family for t in three_d]),
            "every_3d_target_best_from_own_family": (all(bool(t.same_family) for t in three_d)
                                                     if three_d else None),
            "share_beats_random": _share([t.beats_random for t in ts]),
            "mean_spearman_between_seeds": _mean([t.spearman_between_seeds for t in ts]),
            "roots_agree_at_budget_6": None if self.roots_agree is None else self.roots_agree.get(6),
            "roots_agree": None if self.roots_agree is None else {str(b): v for b, v in self.roots_agree.items()},
            "reproduced_targets": len(reproduced),
            "mean_spearman_vs_paper_16k_reproduced": ours_r,
            "paper_1k_vs_16k_reproduced": paper_r,
            "agreement_share_of_papers_own": (ours_r / paper_r if ours_r is not None and paper_r is not None
                                              and paper_r > 0 else None),
            "unreproduced_targets": [t.target for t in unreproduced],
            "mean_spearman_vs_paper_16k_unreproduced": ours_u,
            "paper_1k_vs_16k_unreproduced": paper_u,
            "share_higher_order_beats_first_order": _share([t.higher_order_beats_first_order for t in ts]),
            "share_first_order_gain_above_half": self.share_first_order_gain_above_half,
            "tree_tasks": len(tree.get("tasks", [])),
            "tree_ari_vs_families": tree.get("ari_vs_families"),
            "paper_16k_tree_ari_vs_families": paper_tree.get("ari_vs_families"),
            "paper_16k_tree_ari_vs_families_all_tasks": paper_tree.get("ari_vs_families_all_tasks"),
            "random_policies": self.policies if pols is not None else None,
            "random_policies_gain_percentile": gain_pct,
            "random_policies_quality_percentile": qual_pct,
            "random_policies_min_percentile": (min(v for v in all_pct if v is not None)
                                               if any(v is not None for v in all_pct) else None),
        }

    def to_dict(self) -> dict[str, Any]:
        """The content of ``validity.json``: ``summary`` (:data:`SUMMARY_KEYS`), per-target figures,
        the two seeds' roots, the task-similarity trees and the significance test per budget."""
        return {"reference": self.reference, "bootstrap": self.bootstrap, "summary": self.summary(),
                "targets": [asdict(t) for t in self.targets],
                "roots": None if self.roots is None else {k: {str(b): r for b, r in v.items()}
                                                          for k, v in self.roots.items()},
                "similarity_tree": self.tree, "paper_similarity_tree": self.paper_tree,
                "random_policies": None if self.random_policies is None else [p.to_dict()
                                                                              for p in self.random_policies]}


@functools.lru_cache(maxsize=len(BUILTIN_TABLES))
def _published(name: str) -> TransferTable:
    """A built-in table in our task names (cached: tables are immutable)."""
    return load_table(name).to_our_names()


def _table_named(name: str) -> TransferTable:
    return _published(name) if name in BUILTIN_TABLES else load_table(name).to_our_names()


def _family(name: str) -> str:
    return get_task(name).family if name in registry() else ""


def first_order_affinities(table: TransferTable, target: str) -> dict[str, float]:
    """Source task → AHP affinity of ``target``'s first-order transfers (measured ones only)."""
    return {r.sources[0]: float(r.affinity) for r in table.rows_for(target)
            if r.kind == "first_order" and r.affinity is not None}


def best_source(table: TransferTable, target: str) -> str | None:
    """The first-order source of highest affinity (None without first-order rows)."""
    aff = first_order_affinities(table, target)
    return max(aff, key=lambda s: (aff[s], s)) if aff else None


def _spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    if len(a) < 3 or len(set(a)) < 2 or len(set(b)) < 2:
        return None
    rho = spearmanr(a, b).statistic
    return None if rho is None or math.isnan(float(rho)) else float(rho)


def agreement(table: TransferTable, reference: TransferTable, target: str) -> tuple[int, float | None, list[str]]:
    """``(shared sources, Spearman, reference's top sources among the shared)`` of one target."""
    ours, theirs = first_order_affinities(table, target), first_order_affinities(reference, target)
    shared = sorted(set(ours) & set(theirs))
    rho = _spearman([ours[s] for s in shared], [theirs[s] for s in shared])
    top = sorted(shared, key=lambda s: (-theirs[s], s))[:TOP_K]
    return len(shared), rho, top


def winrate_interval(ours: np.ndarray, baseline: np.ndarray, *, bootstrap: int, seed: int,
                     confidence: float = 0.95) -> tuple[float, float, float]:
    """Share of images where ``ours`` has the strictly lower loss (ties count half), with a
    bootstrap percentile interval over the images."""
    wins = (ours < baseline).astype(np.float64) + 0.5 * (ours == baseline)
    rate = float(wins.mean())
    if bootstrap <= 0:
        return rate, rate, rate
    rng = np.random.default_rng(seed)
    means = wins[rng.integers(0, len(wins), (bootstrap, len(wins)))].mean(axis=1)  # one resample per row
    lo, hi = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return rate, float(min(lo, rate)), float(max(hi, rate))


def paper_reproduction(table: TransferTable, target: str, *, paper_16k: TransferTable, paper_1k: TransferTable
                       ) -> tuple[float | None, float | None, float | None]:
    """``(paper 1k vs 16k, ours vs 16k, paper 1k vs 16k on our sources)`` for ``target``: Spearman
    correlations of first-order affinities; the first over the sources both paper tables have
    (it decides whether the paper reproduces the target), the second over the sources ours and
    paper-16k have, the third over those of them paper-1k has too (tables in our task names)."""
    if target not in paper_16k.targets() or target not in paper_1k.targets():
        return None, None, None
    p16, p1 = first_order_affinities(paper_16k, target), first_order_affinities(paper_1k, target)
    both = sorted(set(p16) & set(p1))
    paper = _spearman([p1[s] for s in both], [p16[s] for s in both])
    if target not in table.targets():
        return paper, None, None
    ours = first_order_affinities(table, target)
    shared = sorted(set(ours) & set(p16))
    ours_rho = _spearman([ours[s] for s in shared], [p16[s] for s in shared])
    same = [s for s in shared if s in p1]
    return paper, ours_rho, _spearman([p1[s] for s in same], [p16[s] for s in same])


def best_higher_order(table: TransferTable, target: str) -> tuple[list[str] | None, bool | None]:
    """``(sources of the best higher-order candidate, whether its affinity beats the best
    first-order one)`` — ``(None, None)`` when ``target`` has no measured higher-order candidate
    (or no first-order one to beat)."""
    rows = table.rows_for(target)
    higher = [r for r in rows if r.kind == "higher_order" and r.affinity is not None]
    first = first_order_affinities(table, target)
    if not higher:
        return None, None
    best = max(higher, key=lambda r: (float(r.affinity or 0.0), r.sources))
    return list(best.sources), (float(best.affinity or 0.0) > max(first.values())) if first else None


def share_gain_above(table: TransferTable, threshold: float = 0.5) -> float | None:
    """Share of the first-order transfers (with a gain) whose gain exceeds ``threshold``."""
    gains = [float(r.gain) for r in table if r.kind == "first_order" and r.gain is not None]
    return float(np.mean(np.asarray(gains) > threshold)) if gains else None


def similarity_tree(table: TransferTable, tasks: Sequence[str] | None = None) -> dict[str, Any] | None:
    """The task-similarity tree of ``table`` (:func:`taskonomy.affinity.task_similarity_tree`) over
    ``tasks`` (default: its first-order sources that have a family), with the tasks' families,
    the cut into :data:`TREE_CLUSTERS` clusters and its adjusted Rand index against the families;
    None with fewer than 2 such tasks."""
    if tasks is None:
        tasks = [s for s in dict.fromkeys(r.sources[0] for r in table if r.kind == "first_order") if _family(s)]
    if len(tasks) < 2:
        return None
    tree = task_similarity_tree(table, tasks)
    families = [_family(s) for s in tree.tasks]
    clusters = tree.clusters(TREE_CLUSTERS)
    return {**tree.to_dict(), "families": families, "clusters": clusters,
            "ari_vs_families": adjusted_rand_index(clusters, families)}


def paper_similarity_tree(tasks: Sequence[str], targets: Sequence[str]) -> dict[str, Any] | None:
    """The reference for :func:`similarity_tree`: ``paper-16k``'s tree over the same ``tasks`` and
    ``targets`` (rows) as ours, plus ``ari_vs_families_all_tasks`` over all of its tasks."""
    paper = _published(PAPER_16K)
    full = _paper_tree_ari_all_tasks()
    rows = [r for r in paper if r.target in set(targets)]
    known = {r.sources[0] for r in rows if r.kind == "first_order"}
    same = [t for t in tasks if t in known]
    out = similarity_tree(TransferTable.from_rows(rows), same) if rows and len(same) >= 2 else None
    out = dict(out) if out is not None else {"tasks": same, "ari_vs_families": None}
    out["ari_vs_families_all_tasks"] = full
    return out


@functools.lru_cache(maxsize=1)
def _paper_tree_ari_all_tasks() -> float | None:
    tree = similarity_tree(_published(PAPER_16K))
    return None if tree is None else float(tree["ari_vs_families"])


def roots_by_budget(table: TransferTable, problem: Any, budgets: Sequence[int] = STABILITY_BUDGETS
                    ) -> dict[int, list[str]]:
    """The optimal taxonomy's roots at each budget (``problem``: a TaxonomyProblem to vary)."""
    out: dict[int, list[str]] = {}
    for b in budgets:
        sol = solve_taxonomy(table, replace(problem, budget=float(b)))
        out[b] = sorted(sol.roots)
    return out


def validate(table: TransferTable, *, losses: Mapping[str, Mapping[str, np.ndarray]] | None = None,
             reference: str | TransferTable = "paper-16k", second: TransferTable | None = None,
             problem: Any = None, bootstrap: int = 1000, seed: int = 0, policies: int = POLICIES,
             budgets: Sequence[int] = SIGNIFICANCE_BUDGETS) -> ValidityReport:
    """The validity report of ``table`` (see the module docstring).

    ``losses[target]`` maps ``"random"`` and each first-order source to its per-image test losses
    (needed for beating chance); ``second`` is the table of a second run with another seed and
    ``problem`` the taxonomy problem whose roots are compared across the two runs and whose
    taxonomy at each of ``budgets`` is tested against ``policies`` random feasible policies
    (none of either without a problem).
    """
    ref_name = reference if isinstance(reference, str) else "reference table"
    ref = _table_named(reference) if isinstance(reference, str) else reference.to_our_names()
    table = table.to_our_names()
    second = second.to_our_names() if second is not None else None
    paper_16k, paper_1k = _published(PAPER_16K), _published(PAPER_1K)
    targets = []
    for i, target in enumerate(table.targets()):
        best = best_source(table, target)
        fam = _family(target)
        tv = TargetValidity(target=target, family=fam, best_source=best,
                            best_source_family=_family(best) if best else None)
        if target in ref.targets():
            tv.shared_sources, tv.spearman_vs_reference, tv.reference_top = agreement(table, ref, target)
            if best is not None and tv.reference_top:
                tv.best_in_reference_top = best in tv.reference_top
        if best is not None and fam:
            tv.same_family = tv.best_source_family == fam
        per_image = (losses or {}).get(target, {})
        if best is not None and best in per_image and "random" in per_image:
            tv.winrate_vs_random, tv.winrate_vs_random_low, tv.winrate_vs_random_high = winrate_interval(
                np.asarray(per_image[best]), np.asarray(per_image["random"]), bootstrap=bootstrap, seed=seed + i)
            tv.beats_random = tv.winrate_vs_random_low > 0.5
        if second is not None and target in second.targets():
            a, b = first_order_affinities(table, target), first_order_affinities(second, target)
            shared = sorted(set(a) & set(b))
            tv.spearman_between_seeds = _spearman([a[s] for s in shared], [b[s] for s in shared])
        tv.paper_1k_vs_16k, tv.spearman_vs_paper_16k, tv.paper_1k_vs_16k_on_our_sources = paper_reproduction(
            table, target, paper_16k=paper_16k, paper_1k=paper_1k)
        if tv.paper_1k_vs_16k is not None:
            tv.paper_reproduces = tv.paper_1k_vs_16k >= REPRODUCED_SPEARMAN
        tv.best_higher_order, tv.higher_order_beats_first_order = best_higher_order(table, target)
        targets.append(tv)
    report = ValidityReport(reference=ref_name, targets=targets, bootstrap=bootstrap,
                            share_first_order_gain_above_half=share_gain_above(table))
    report.tree = similarity_tree(table)
    if report.tree is not None:
        report.paper_tree = paper_similarity_tree(report.tree["tasks"], table.targets())
    if problem is not None:
        report.random_policies = random_policy_percentiles(table, problem, budgets=budgets, policies=policies,
                                                           seed=seed)
        report.policies = policies
    if second is not None and problem is not None:
        first_roots, second_roots = roots_by_budget(table, problem), roots_by_budget(second, problem)
        report.roots = {"first": first_roots, "second": second_roots}
        report.roots_agree = {b: first_roots[b] == second_roots[b] for b in first_roots}
    return report


# -- runs -----------------------------------------------------------------------------------------

def losses_from_store(store: Any, finalize_params: FinalizeParams) -> dict[str, dict[str, np.ndarray]]:
    """Per-image test losses by target and candidate, from the finalize job's stacked losses:
    first-order candidates named by their source task, the random encoder ``random`` (higher-order,
    self, own and pixels rows are left out)."""
    losses: dict[str, dict[str, np.ndarray]] = {}
    for target, key in finalize_params.outputs.losses.items():
        if not store.exists(key):
            continue
        stacked = np.asarray(store.get_tensors(key)["losses"], dtype=np.float64)
        by_name: dict[str, np.ndarray] = {}
        for row, cand in zip(stacked, store.meta(key)["candidates"], strict=False):  # pixels is the last row
            if cand["kind"] == "first_order":
                by_name[cand["sources"][0]] = row
            elif cand["kind"] == "random_encoder":
                by_name["random"] = row
        losses[target] = by_name
    return losses


def _run(run_dir: str | os.PathLike[str]) -> tuple[TransferTable, dict[str, dict[str, np.ndarray]], FinalizeParams]:
    """``(transfer table, per-image losses, finalize parameters)`` of a ``taskonomy run`` directory."""
    exp = open_experiment(os.fspath(run_dir))
    params = build_graph(exp.spec).finalize_params()
    if not exp.store.exists(params.outputs.table):
        raise InvalidInputError(f"{os.fspath(run_dir)!r} is not a finished run: its transfer table is not in the "
                                f"store {exp.store.url}")
    table = TransferTable.read(io.StringIO(exp.store.get_bytes(params.outputs.table).decode()), format="csv")
    return table, losses_from_store(exp.store, params), params


def validate_run(run_dir: str | os.PathLike[str], *, second: str | os.PathLike[str] | None = None,
                 reference: str = "paper-16k", bootstrap: int = 1000, seed: int = 0,
                 policies: int = POLICIES) -> ValidityReport:
    """The validity report of a run directory (and, with ``second``, its stability against
    another run of the same experiment with another seed); its taxonomy problem is the run's."""

    table, losses, params = _run(run_dir)
    second_table = _run(second)[0] if second is not None else None
    return validate(table, losses=losses, reference=reference, second=second_table, problem=experiment_problem(params),
                    bootstrap=bootstrap, seed=seed, policies=policies)


def write_validity(out_dir: str | os.PathLike[str], report: ValidityReport) -> str:
    """Write ``validity.json`` into a run directory; returns its path."""
    path = os.path.join(os.fspath(out_dir), VALIDITY_FILE)
    atomic_write(path, json.dumps(report.to_dict(), indent=1))
    return path
