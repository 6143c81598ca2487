"""The paper's significance test: the taxonomy against random feasible transfer policies.

Zamir et al. (CVPR 2018, Sec. 4, "Significance Test of the Structure", Fig. 10) compare the gain
and quality of the computed taxonomy with those of random transfer policies of the same
supervision budget, and report the taxonomy's percentile among 1000 of them. The paper does not
spell out its sampler; this module's, for a budget ``b`` (the problem's roles, costs and
``max_order`` otherwise unchanged):

1. **Roots.** The candidates are the rootable tasks (targets and source-only tasks) that are
   the target of a supervised network or the source of a first-order edge: ``random``, which
   only ever feeds a ``random_encoder`` edge, is never one. They are visited in a uniformly
   random order and each is made a root if its supervision cost still fits in ``b``: a random
   *maximal* root set within the budget (with unit costs, ``min(b, candidates)`` roots chosen
   uniformly), i.e. a policy that spends the budget as the taxonomy may.
2. **Transfers.** Every receiver that is not a root takes one first-order edge drawn uniformly
   among its edges whose source is a root (a first-order policy: the paper's random policies
   transfer from single sources).
3. **Feasibility.** A draw in which some receiver has no such edge, or whose total cost
   (supervision of the roots plus the transfer costs of the chosen edges) exceeds ``b``, is
   rejected and drawn again, up to ``max_draws_per_policy`` draws per wanted policy.

A policy's **gain** (**quality**) is the mean over the receivers of the chosen edge's gain
(quality), a rooted target counting its ``self`` row's (the published tables store quality 0.5
for it). The taxonomy is the BIP optimum at budget ``b`` for the problem (any order up to its
``max_order``), valued the same way. Its **percentile** is the share of random policies it
matches or beats,

    percentile = 100 · #{random ≤ taxonomy} / N    (scipy's ``percentileofscore(kind="weak")``),

so a taxonomy no random policy beats is at 100. Ties are frequent where few distinct policies
exist (at budget 1 a first-order policy is decided by its one root: 9 possible in the quick
preset), and a tie with the best policy there is still the best there is: a mid-rank percentile
would cap such a taxonomy at ``100 − 50/9 ≈ 94``.
Draws use ``numpy.random.default_rng([seed, b])``: reproducible per budget.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from taskonomy.affinity import TransferTable
from taskonomy.errors import InvalidInputError
from taskonomy.selection._problem import Instance, TaxonomyProblem, TaxonomySolution, compile_problem
from taskonomy.selection._solve import solve_taxonomy

#: The budgets of the paper's test.
SIGNIFICANCE_BUDGETS: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
#: Random policies per budget (the paper's number).
POLICIES = 1000


@dataclass
class PolicyPercentile:
    """The taxonomy at one budget against ``policies`` random feasible policies of that budget."""

    budget: float
    status: str                      # the taxonomy's status (OPTIMAL or INFEASIBLE)
    roots: list[str]
    policies: int                    # feasible random policies drawn (may fall short: see ``draws``)
    draws: int                       # draws made, rejected ones included
    taxonomy_gain: float | None = None
    taxonomy_quality: float | None = None
    random_gain_mean: float | None = None
    random_quality_mean: float | None = None
    gain_percentile: float | None = None
    quality_percentile: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile_of(value: float, sample: np.ndarray) -> float:
    """Percentile of ``value`` in ``sample``: ``100 · #{sample ≤ value} / N`` (ties count for it)."""
    sample = np.asarray(sample, dtype=np.float64)
    if sample.size == 0:
        raise InvalidInputError("percentile: empty sample")
    return 100.0 * float(np.sum(sample <= value)) / sample.size


def _nan(v: float | None) -> float:
    return math.nan if v is None else float(v)


def _first_order_edges(inst: Instance) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per receiver: (source index, gain, quality) of its first-order edges."""
    out = []
    for edges in inst.edges:
        src, gain, qual = [], [], []
        for mask, _v, row in edges:
            if row.kind == "first_order" and mask.bit_count() == 1:
                src.append(mask.bit_length() - 1)
                gain.append(_nan(row.gain))
                qual.append(_nan(row.quality))
        out.append((np.asarray(src, dtype=np.int64), np.asarray(gain), np.asarray(qual)))
    return out


def _draw(inst: Instance, fo: list[tuple[np.ndarray, np.ndarray, np.ndarray]], candidates: np.ndarray, n: int,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` random policies: (feasible mask, mean gain, mean quality), one entry per draw."""
    roots = np.zeros((n, inst.n), dtype=bool)
    spent = np.zeros(n)
    order = np.argsort(rng.random((n, len(candidates))), axis=1)  # a random order of the candidates per draw
    for j in range(len(candidates)):
        task = candidates[order[:, j]]
        c = inst.cost[task]
        fits = spent + c <= inst.budget + 1e-9
        roots[np.arange(n)[fits], task[fits]] = True
        spent += np.where(fits, c, 0.0)
    feasible = np.ones(n, dtype=bool)
    gain = np.zeros(n)
    qual = np.zeros(n)
    for k, (src, g, q) in enumerate(fo):
        r = inst.receiver_root[k]
        rooted = roots[:, r] if r >= 0 else np.zeros(n, dtype=bool)
        if r >= 0:
            row = inst.self_rows.get(inst.receivers[k])
            self_g = _nan(row.gain) if row is not None else math.nan
            self_q = _nan(row.quality) if row is not None else math.nan
        else:
            self_g = self_q = math.nan
        if len(src):
            admissible = roots[:, src]                                   # (n, edges)
            keys = np.where(admissible, rng.random(admissible.shape), -1.0)
            pick = np.argmax(keys, axis=1)
            has = admissible.any(axis=1)
            eg, eq = g[pick], q[pick]
        else:
            has = np.zeros(n, dtype=bool)
            eg = eq = np.full(n, math.nan)
        feasible &= rooted | has
        gain += np.where(rooted, self_g, eg)
        qual += np.where(rooted, self_q, eq)
        spent += np.where(rooted, 0.0, float(inst.transfer_cost[k]))
    feasible &= spent <= inst.budget + 1e-9
    m = max(len(fo), 1)
    return feasible, gain / m, qual / m


def _taxonomy_values(inst: Instance, sol: TaxonomySolution) -> tuple[float, float]:
    by_target = {e.target: e for e in sol.edges}
    gains, quals = [], []
    for t in inst.receivers:
        if t in by_target:
            gains.append(_nan(by_target[t].gain))
            quals.append(_nan(by_target[t].quality))
        else:
            row = inst.self_rows.get(t)
            gains.append(_nan(row.gain) if row is not None else math.nan)
            quals.append(_nan(row.quality) if row is not None else math.nan)
    return float(np.mean(gains)), float(np.mean(quals))


def _finite(v: float) -> float | None:
    return None if math.isnan(v) else v


def random_policy_percentile(table: TransferTable, problem: TaxonomyProblem, *, budget: float,
                             policies: int = POLICIES, seed: int = 0,
                             max_draws_per_policy: int = 50) -> PolicyPercentile:
    """The taxonomy's gain and quality percentiles among random feasible policies at ``budget``
    (see the module docstring for the sampling)."""
    if isinstance(policies, bool) or not isinstance(policies, int) or policies < 1:
        raise InvalidInputError(f"policies: must be an integer >= 1, got {policies!r}")
    prob = replace(problem, budget=float(budget))
    sol = solve_taxonomy(table, prob)
    inst = compile_problem(table, prob, prune=False)
    fo = _first_order_edges(inst)
    sources = {int(i) for src, _g, _q in fo for i in src}
    candidates = np.asarray([i for i in range(inst.n) if i in sources or i in inst.receiver_root], dtype=np.int64)
    out = PolicyPercentile(budget=float(budget), status=sol.status, roots=list(sol.roots), policies=0, draws=0)
    if sol.status != "OPTIMAL" or len(candidates) == 0:
        return out
    rng = np.random.default_rng([int(seed), int(round(float(budget) * 1000))])
    gains: list[np.ndarray] = []
    quals: list[np.ndarray] = []
    found = 0
    while found < policies and out.draws < policies * max_draws_per_policy:
        n = min(max(2 * (policies - found), 64), policies * max_draws_per_policy - out.draws)
        ok, g, q = _draw(inst, fo, candidates, n, rng)
        out.draws += n
        gains.append(g[ok])
        quals.append(q[ok])
        found += int(ok.sum())
    g_all = np.concatenate(gains)[:policies]
    q_all = np.concatenate(quals)[:policies]
    out.policies = len(g_all)
    out.taxonomy_gain, out.taxonomy_quality = (_finite(v) for v in _taxonomy_values(inst, sol))
    if out.policies:
        if out.taxonomy_gain is not None and not np.isnan(g_all).any():
            out.random_gain_mean = float(g_all.mean())
            out.gain_percentile = percentile_of(out.taxonomy_gain, g_all)
        if out.taxonomy_quality is not None and not np.isnan(q_all).any():
            out.random_quality_mean = float(q_all.mean())
            out.quality_percentile = percentile_of(out.taxonomy_quality, q_all)
    return out


def random_policy_percentiles(table: TransferTable, problem: TaxonomyProblem, *,
                              budgets: Iterable[float] = SIGNIFICANCE_BUDGETS, policies: int = POLICIES,
                              seed: int = 0) -> list[PolicyPercentile]:
    """:func:`random_policy_percentile` at each of ``budgets`` (default 1 to 8, as the paper)."""
    return [random_policy_percentile(table, problem, budget=b, policies=policies, seed=seed) for b in budgets]
