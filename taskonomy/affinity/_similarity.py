"""The task-similarity tree: agglomerative clustering of tasks by their transfer-out behaviour.

The paper (Zamir et al., CVPR 2018, Sec. 4 and Fig. 13) clusters its tasks "based on their
transfer-out patterns, i.e. using the columns of the normalized affinity matrix as task features",
and finds the 3D, 2D, low-dimensional geometric and semantic tasks grouped together. Here:

* **Features.** Task ``s``'s feature vector is its column of the first-order affinity matrix:
  ``x_s[t] = log a(s → t) − mean_{s'} log a(s' → t)``, over the targets ``t`` (rows). AHP
  affinities are ratio-scale weights (the principal eigenvector of a reciprocal matrix), so the
  log turns ratios into differences; centring each target's row removes the row's normalising
  constant (affinities sum to 1 over *all* of a tournament's candidates, so the scale of a row
  depends on how many candidates it had: first-order only in a quick run, every order in the
  paper's tables). The features of two tables are therefore comparable. Affinities are floored at
  :data:`AFFINITY_FLOOR` before the log.
* **Distance.** ``d(a, b) = 1 − Pearson(x_a, x_b)`` over the targets both columns have, the two
  tasks themselves left out (there is no ``a → a`` transfer, and ``x_a[b]`` against ``x_b[b]``
  would compare a measured value with a missing one). Correlation compares the *pattern* of
  transfers out, not a source's overall strength: a generally strong source and a generally
  weak one of the same family are close. Fewer than :data:`MIN_SHARED_TARGETS` shared targets,
  or a constant column, gives ``d = 1`` (no evidence of similarity).
* **Linkage.** Average linkage (UPGMA), :func:`scipy.cluster.hierarchy.linkage`: it is defined
  for any dissimilarity (Ward and centroid linkage assume Euclidean distances, which ``1 − r``
  is not), chains less than single linkage and depends less on one extreme pair than complete
  linkage.

On the paper's own 16k table this clustering, cut into 4 clusters, agrees with the four
families at an adjusted Rand index of 0.69 (0.66 on the 1k table); the alternatives tried
(raw, row-normalised or rank affinities; Euclidean or cosine distances; single, complete or
weighted linkage) ranged from about 0 to 0.82 and were less stable between the two tables.

:func:`adjusted_rand_index` compares a cut of the tree with a partition (Hubert and Arabie,
"Comparing partitions", Journal of Classification 2, 1985).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from taskonomy.affinity._table import TransferTable
from taskonomy.errors import InvalidInputError

#: Affinities below this are treated as this value before the log (an AHP weight is > 0, but a
#: table may round it to 0).
AFFINITY_FLOOR = 1e-12
#: Fewest targets two tasks' columns must share for a correlation.
MIN_SHARED_TARGETS = 3
#: The linkage method and the distance, as recorded with a tree.
LINKAGE = "average"
METRIC = "1 - Pearson correlation of row-centred log affinities"


@dataclass
class SimilarityTree:
    """An agglomerative clustering of ``tasks`` (scipy linkage matrix ``linkage``, (n-1) x 4)."""

    tasks: list[str]
    linkage: np.ndarray
    distances: np.ndarray  # (n, n), the dissimilarities the tree was built from

    def clusters(self, k: int) -> list[int]:
        """Cluster labels (1..k) per task when the tree is cut into at most ``k`` clusters."""
        if k < 1:
            raise InvalidInputError(f"clusters: k must be >= 1, got {k}")
        from scipy.cluster.hierarchy import fcluster  # scipy loads when a tree is cut, not at import

        if len(self.tasks) == 1:
            return [1]
        return [int(c) for c in fcluster(self.linkage, t=k, criterion="maxclust")]

    def to_dict(self) -> dict[str, Any]:
        return {"tasks": list(self.tasks), "linkage": self.linkage.tolist(), "method": LINKAGE, "metric": METRIC}


def transfer_out_features(table: TransferTable, tasks: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """``(X, targets)``: ``X[i, j]`` is the row-centred log affinity of ``tasks[j] → targets[i]``
    (NaN where the table has no such first-order transfer); see the module docstring."""
    targets = table.targets()
    col = {s: j for j, s in enumerate(tasks)}
    x = np.full((len(targets), len(tasks)), np.nan)
    for i, t in enumerate(targets):
        for r in table.rows_for(t):
            if r.kind == "first_order" and r.affinity is not None and r.sources[0] in col:
                x[i, col[r.sources[0]]] = math.log(max(float(r.affinity), AFFINITY_FLOOR))
    measured = ~np.isnan(x)
    counts = measured.sum(axis=1, keepdims=True)
    row_mean = np.where(counts > 0, np.where(measured, x, 0.0).sum(axis=1, keepdims=True) / np.maximum(counts, 1), 0.0)
    return x - row_mean, targets


def _distance(xa: np.ndarray, xb: np.ndarray) -> float:
    ok = ~np.isnan(xa) & ~np.isnan(xb)
    if ok.sum() < MIN_SHARED_TARGETS:
        return 1.0
    a, b = xa[ok] - xa[ok].mean(), xb[ok] - xb[ok].mean()
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    if norm == 0.0:
        return 1.0
    return float(min(max(1.0 - float(a @ b) / norm, 0.0), 2.0))


def task_similarity_tree(table: TransferTable, tasks: Sequence[str] | None = None) -> SimilarityTree:
    """The task-similarity tree of ``tasks`` (default: every first-order source of ``table``).

    Notes
    -----
    Features, distance and linkage as in the module docstring:
    ``d(a, b) = 1 − r(x_a, x_b)`` over the targets ``t ∉ {a, b}`` both columns have, with
    ``x_s[t] = log a(s→t) − mean_{s'} log a(s'→t)``; average linkage.
    """
    from scipy.cluster.hierarchy import linkage  # scipy loads when a tree is built, not at import
    from scipy.spatial.distance import squareform

    if tasks is None:
        tasks = list(dict.fromkeys(r.sources[0] for r in table if r.kind == "first_order"))
    tasks = list(dict.fromkeys(tasks))
    if len(tasks) < 2:
        raise InvalidInputError(f"task-similarity tree: needs at least 2 tasks, got {len(tasks)}")
    x, targets = transfer_out_features(table, tasks)
    row = {t: i for i, t in enumerate(targets)}
    n = len(tasks)
    dist = np.zeros((n, n))
    for a in range(n):
        for b in range(a + 1, n):
            keep = np.ones(len(targets), dtype=bool)
            for s in (tasks[a], tasks[b]):
                if s in row:
                    keep[row[s]] = False
            dist[a, b] = dist[b, a] = _distance(x[keep, a], x[keep, b])
    z = linkage(squareform(dist, checks=False), method=LINKAGE)
    return SimilarityTree(tasks=tasks, linkage=z, distances=dist)


def adjusted_rand_index(labels_a: Sequence[Any], labels_b: Sequence[Any]) -> float:
    """The adjusted Rand index of two partitions of the same items (1: identical, ~0: chance).

    Notes
    -----
    With the contingency table ``n_ij`` (items in cluster ``i`` of ``a`` and ``j`` of ``b``), row
    sums ``a_i``, column sums ``b_j`` and ``n`` items::

        index    = Σ_ij C(n_ij, 2)
        expected = Σ_i C(a_i, 2) · Σ_j C(b_j, 2) / C(n, 2)
        maximum  = (Σ_i C(a_i, 2) + Σ_j C(b_j, 2)) / 2
        ARI      = (index − expected) / (maximum − expected)

    When both partitions are trivial (maximum == expected, e.g. one cluster each, or every item
    alone in both) the index is 1.0, as scikit-learn defines it.

    References
    ----------
    L. Hubert and P. Arabie, "Comparing partitions", Journal of Classification 2, 193-218 (1985).
    """
    from scipy.special import comb

    if len(labels_a) != len(labels_b):
        raise InvalidInputError(f"adjusted Rand index: {len(labels_a)} labels against {len(labels_b)}")
    if len(labels_a) < 2:
        raise InvalidInputError("adjusted Rand index: needs at least 2 items")
    a = np.unique(np.asarray([str(v) for v in labels_a]), return_inverse=True)[1]
    b = np.unique(np.asarray([str(v) for v in labels_b]), return_inverse=True)[1]
    table = np.zeros((int(a.max()) + 1, int(b.max()) + 1))
    np.add.at(table, (a, b), 1.0)
    index = float(comb(table, 2).sum())
    sum_a = float(comb(table.sum(axis=1), 2).sum())
    sum_b = float(comb(table.sum(axis=0), 2).sum())
    expected = sum_a * sum_b / float(comb(len(a), 2))
    maximum = (sum_a + sum_b) / 2
    if maximum == expected:
        return 1.0
    return (index - expected) / (maximum - expected)
