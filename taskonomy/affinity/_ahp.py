"""Win rates and the Analytic Hierarchy Process (AHP) of one target's tournament.

Notes
-----
For candidates ``i, j`` with per-image test losses ``L[i], L[j]`` (lower is better),

    W[i, j] = #{images m : L[i, m] < L[j, m]} / #{images m : both losses finite},   W[i, i] = 1/2.

Ties count for neither side; a pair without a single comparable image gets 1/2. The AHP
(Saaty) turns the tournament into one weight per candidate: clip ``W`` to ``[0.001, 0.999]``,
form the reciprocal matrix ``A = W / Wᵀ`` (elementwise, so ``A[j, i] = 1 / A[i, j]``), and take its
principal (Perron) eigenvector, normalised to sum to 1. For a *consistent* matrix
``A[i, j] = w_i / w_j`` this gives back ``w`` exactly. The consistency ratio
``CR = ((λ_max − n) / (n − 1)) / RI(n)`` measures how far ``A`` is from consistent (0 =
consistent; Saaty's rule of thumb accepts CR < 0.1).

References
----------
Saaty, T. L. "A scaling method for priorities in hierarchical structures", J. Math. Psych. 1977.
Zamir et al., "Taskonomy: Disentangling Task Transfer Learning", CVPR 2018, §3.3.
Alonso & Lamata, "Consistency in the AHP: a new approach", IJUFKS 2006 (RI for large n).
"""

from __future__ import annotations

import numpy as np

from taskonomy.errors import InvalidInputError

#: Saaty's random indices RI(n) for n = 1..15.
_RANDOM_INDEX = (0.0, 0.0, 0.0, 0.58, 0.90, 1.12, 1.24, 1.32, 1.41, 1.45, 1.49, 1.51, 1.48, 1.56, 1.57, 1.59)
DEFAULT_CLIP: tuple[float, float] = (0.001, 0.999)


def _check_losses(losses: np.ndarray) -> np.ndarray:
    arr = np.asarray(losses, dtype=np.float64)
    if arr.ndim != 2:
        raise InvalidInputError(f"losses: must be a 2-D array (candidates × images), got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InvalidInputError(f"losses: need at least one candidate and one image, got shape {arr.shape}")
    return arr


def win_rate_matrix(losses: np.ndarray) -> np.ndarray:
    """``W[i, j]``: fraction of comparable images where candidate i's loss is strictly lower.

    ``losses`` has shape (n_candidates, n_images); NaN or infinite losses make that image
    incomparable for the pairs involving the candidate. ``W[i, i] = 0.5``.
    """
    arr = _check_losses(losses)
    n, m = arr.shape
    finite = np.isfinite(arr)
    counts = np.zeros((n, n))
    totals = np.zeros((n, n))
    chunk = max(1, int(4_000_000 // max(n * n, 1)))
    for start in range(0, m, chunk):
        a, f = arr[:, start:start + chunk], finite[:, start:start + chunk]
        valid = f[:, None, :] & f[None, :, :]
        with np.errstate(invalid="ignore"):
            counts += ((a[:, None, :] < a[None, :, :]) & valid).sum(axis=2)
        totals += valid.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(totals > 0, counts / np.maximum(totals, 1), 0.5)
    np.fill_diagonal(w, 0.5)
    return w


def _check_w(w: np.ndarray) -> np.ndarray:
    arr = np.asarray(w, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] < 1:
        raise InvalidInputError(f"W: must be a square matrix, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InvalidInputError("W: contains NaN or infinite values")
    if (arr < 0).any() or (arr > 1).any():
        raise InvalidInputError("W: win rates must lie in [0, 1]")
    return arr


def reciprocal_matrix(w: np.ndarray, *, clip: tuple[float, float] = DEFAULT_CLIP) -> np.ndarray:
    """``A = W' / W'ᵀ`` with ``W' = clip(W, *clip)`` (diagonal 1)."""
    lo, hi = clip
    if not 0.0 < lo <= hi < 1.0 + 1e-12:
        raise InvalidInputError(f"clip: need 0 < low <= high <= 1, got {clip}")
    c = np.clip(_check_w(w), lo, hi)
    a = c / c.T
    np.fill_diagonal(a, 1.0)
    return a


def _principal(a: np.ndarray) -> tuple[np.ndarray, float]:
    vals, vecs = np.linalg.eig(a)
    k = int(np.argmax(vals.real))
    v = np.abs(vecs[:, k].real)
    return v / v.sum(), float(vals[k].real)


def ahp(W: np.ndarray, *, clip: tuple[float, float] = DEFAULT_CLIP) -> np.ndarray:
    """AHP affinity vector of a tournament (sums to 1): principal eigenvector of ``W / Wᵀ``."""
    return _principal(reciprocal_matrix(W, clip=clip))[0]


def random_index(n: int) -> float:
    """Saaty's random consistency index for ``n`` items (Alonso-Lamata approximation beyond 15)."""
    if n < len(_RANDOM_INDEX):
        return _RANDOM_INDEX[n]
    return 1.98 * (n - 2) / n


def consistency_ratio(W: np.ndarray, *, clip: tuple[float, float] = DEFAULT_CLIP) -> float:
    """Saaty's consistency ratio of the reciprocal matrix of ``W`` (0 for n <= 2)."""
    a = reciprocal_matrix(W, clip=clip)
    n = a.shape[0]
    if n <= 2:
        return 0.0
    _, lam = _principal(a)
    return max(0.0, (lam - n) / (n - 1)) / random_index(n)


def ahp_with_consistency(W: np.ndarray, *, clip: tuple[float, float] = DEFAULT_CLIP) -> tuple[np.ndarray, float]:
    """(affinity vector, consistency ratio) from one eigen-decomposition."""
    a = reciprocal_matrix(W, clip=clip)
    v, lam = _principal(a)
    n = a.shape[0]
    cr = 0.0 if n <= 2 else max(0.0, (lam - n) / (n - 1)) / random_index(n)
    return v, cr
