"""Is a measured taxonomy right? The validity report of a run.

Four questions, each answered per target and summarised:

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

"Best first-order source" is the first-order candidate of highest AHP affinity. Sources that
appear in only one of two compared tables are left out of that comparison.

References: Zamir et al., "Taskonomy: Disentangling Task Transfer Learning", CVPR 2018
(Fig. 13: the task-similarity tree; its published affinities are ``paper-16k``).
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from taskonomy.affinity import TransferTable, load_table
from taskonomy.errors import InvalidInputError
from taskonomy.files import atomic_write
from taskonomy.modelbank import open_experiment
from taskonomy.pipeline.finalize import problem_for
from taskonomy.pipeline.graph import build_graph
from taskonomy.selection import solve_taxonomy
from taskonomy.tasks import get_task, registry

#: Budgets at which the roots of two runs' taxonomies are compared.
STABILITY_BUDGETS: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8)
#: How many of the reference's best sources count as agreeing.
TOP_K = 3
#: The file ``taskonomy validate`` writes into a run directory.
VALIDITY_FILE = "validity.json"


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


@dataclass
class ValidityReport:
    """Per-target figures and their summary (see the module docstring)."""

    reference: str
    targets: list[TargetValidity]
    roots_agree: dict[int, bool] | None = None
    roots: dict[str, dict[int, list[str]]] | None = None
    bootstrap: int = 0

    def summary(self) -> dict[str, Any]:
        ts = self.targets

        def mean(values: Sequence[float | None]) -> float | None:
            v = [x for x in values if x is not None and not math.isnan(x)]
            return float(np.mean(v)) if v else None

        def share(values: Sequence[bool | None]) -> float | None:
            v = [x for x in values if x is not None]
            return float(np.mean(v)) if v else None

        three_d = [t for t in ts if t.family == "3d"]
        return {
            "targets": len(ts),
            "mean_spearman_vs_reference": mean([t.spearman_vs_reference for t in ts]),
            "share_best_in_reference_top3": share([t.best_in_reference_top for t in ts]),
            "share_best_from_own_family": share([t.same_family for t in ts]),
            "share_3d_best_from_own_family": share([t.same_family for t in three_d]),
            "every_3d_target_best_from_own_family": (all(bool(t.same_family) for t in three_d)
                                                     if three_d else None),
            "share_beats_random": share([t.beats_random for t in ts]),
            "mean_spearman_between_seeds": mean([t.spearman_between_seeds for t in ts]),
            "roots_agree_at_budget_6": None if self.roots_agree is None else self.roots_agree.get(6),
            "roots_agree": None if self.roots_agree is None else {str(b): v for b, v in self.roots_agree.items()},
        }

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "bootstrap": self.bootstrap, "summary": self.summary(),
                "targets": [asdict(t) for t in self.targets],
                "roots": None if self.roots is None else {k: {str(b): r for b, r in v.items()}
                                                          for k, v in self.roots.items()}}


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
             problem: Any = None, bootstrap: int = 1000, seed: int = 0) -> ValidityReport:
    """The validity report of ``table`` (see the module docstring).

    ``losses[target]`` maps ``"random"`` and each first-order source to its per-image test losses
    (needed for beating chance); ``second`` is the table of a second run with another seed and
    ``problem`` the taxonomy problem whose roots are compared across the two runs.
    """
    ref_name = reference if isinstance(reference, str) else "reference table"
    ref = (load_table(reference) if isinstance(reference, str) else reference).to_our_names()
    table = table.to_our_names()
    second = second.to_our_names() if second is not None else None
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
        targets.append(tv)
    report = ValidityReport(reference=ref_name, targets=targets, bootstrap=bootstrap)
    if second is not None and problem is not None:
        first_roots, second_roots = roots_by_budget(table, problem), roots_by_budget(second, problem)
        report.roots = {"first": first_roots, "second": second_roots}
        report.roots_agree = {b: first_roots[b] == second_roots[b] for b in first_roots}
    return report


# -- runs -----------------------------------------------------------------------------------------

def losses_from_store(store: Any, finalize_params: Mapping[str, Any]) -> dict[str, dict[str, np.ndarray]]:
    """Per-image test losses by target and candidate, from the finalize job's stacked losses:
    first-order candidates named by their source task, the random encoder ``random`` (higher-order,
    self, own and pixels rows are left out)."""
    losses: dict[str, dict[str, np.ndarray]] = {}
    for target, key in finalize_params["outputs"].get("losses", {}).items():
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


def _run(run_dir: str | os.PathLike[str]) -> tuple[TransferTable, dict[str, dict[str, np.ndarray]], dict[str, Any]]:
    """``(transfer table, per-image losses, finalize parameters)`` of a ``taskonomy run`` directory."""
    exp = open_experiment(os.fspath(run_dir))
    params = next(j for j in build_graph(exp.spec).jobs.values() if j.kind == "finalize").params
    if not exp.store.exists(params["outputs"]["table"]):
        raise InvalidInputError(f"{os.fspath(run_dir)!r} is not a finished run: its transfer table is not in the "
                                f"store {exp.store.url}")
    table = TransferTable.read(io.StringIO(exp.store.get_bytes(params["outputs"]["table"]).decode()), format="csv")
    return table, losses_from_store(exp.store, params), dict(params)


def validate_run(run_dir: str | os.PathLike[str], *, second: str | os.PathLike[str] | None = None,
                 reference: str = "paper-16k", bootstrap: int = 1000, seed: int = 0) -> ValidityReport:
    """The validity report of a run directory (and, with ``second``, its stability against
    another run of the same experiment with another seed)."""

    table, losses, params = _run(run_dir)
    second_table = _run(second)[0] if second is not None else None
    return validate(table, losses=losses, reference=reference, second=second_table, problem=problem_for(params),
                    bootstrap=bootstrap, seed=seed)


def write_validity(out_dir: str | os.PathLike[str], report: ValidityReport) -> str:
    """Write ``validity.json`` into a run directory; returns its path."""
    path = os.path.join(os.fspath(out_dir), VALIDITY_FILE)
    atomic_write(path, json.dumps(report.to_dict(), indent=1))
    return path
