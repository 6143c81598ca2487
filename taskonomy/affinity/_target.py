"""One target's affinities: AHP over all its candidates, gain, quality, bootstrap intervals.

Notes
-----
Rows of ``losses`` are the target's candidates (first and higher order transfers, ``self``,
``own``, ``random``, and ``pixels``), columns the test images. One AHP tournament covers every
candidate except ``pixels`` (as in the published tables, whose affinities sum to 1 per target
over all candidates). ``gain[i] = W[i, pixels]`` and ``quality[i] = W[i, self]``, unclipped.

Bootstrap intervals resample the test images with replacement (``bootstrap`` times, seeded) and
take the ``(1 ± confidence) / 2`` percentiles of every statistic; each interval is widened to
contain the full-sample estimate if needed. Win-rate counts of all resamples come from one
matrix product per chunk of images (comparisons × resample counts).

References: Efron & Tibshirani, "An Introduction to the Bootstrap", 1993 (percentile intervals).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from taskonomy.affinity._ahp import DEFAULT_CLIP, _check_losses, ahp_with_consistency, win_rate_matrix
from taskonomy.errors import InvalidInputError


@dataclass
class TargetAffinity:
    """Per-candidate statistics, aligned with the rows of ``losses``.

    ``affinity[pixels_index]`` is NaN (pixels is outside the tournament). ``gain`` is None
    without a pixels row, ``quality`` None without a self row. ``*_low/_high`` are None unless
    ``bootstrap > 0``.
    """

    affinity: np.ndarray
    gain: np.ndarray | None
    quality: np.ndarray | None
    win_rates: np.ndarray
    consistency_ratio: float
    affinity_low: np.ndarray | None = None
    affinity_high: np.ndarray | None = None
    gain_low: np.ndarray | None = None
    gain_high: np.ndarray | None = None
    quality_low: np.ndarray | None = None
    quality_high: np.ndarray | None = None
    win_rates_low: np.ndarray | None = None
    win_rates_high: np.ndarray | None = None
    bootstrap: int = 0
    confidence: float = 0.95


def _index(name: str, value: int | None, n: int, *, optional: bool) -> int | None:
    if value is None:
        if optional:
            return None
        raise InvalidInputError(f"{name}: required")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < n:
        raise InvalidInputError(f"{name}: must be a row index in [0, {n}), got {value!r}")
    return int(value)


def _stats(w: np.ndarray, tour: np.ndarray, self_index: int | None,
           pixels_index: int | None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, float]:
    n = w.shape[0]
    aff = np.full(n, np.nan)
    vec, cr = ahp_with_consistency(w[np.ix_(tour, tour)], clip=DEFAULT_CLIP)
    aff[tour] = vec
    gain = None if pixels_index is None else w[:, pixels_index].copy()
    quality = None if self_index is None else w[:, self_index].copy()
    return aff, gain, quality, cr


def _bootstrap_win_rates(arr: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Win-rate matrices of every resample: (B, n, n), from counts of shape (B, m)."""
    n, m = arr.shape
    b = counts.shape[0]
    finite = np.isfinite(arr)
    wins = np.zeros((n * n, b))
    totals = np.zeros((n * n, b))
    chunk = max(1, int(2_000_000 // max(n * n, 1)))
    for start in range(0, m, chunk):
        a, f = arr[:, start:start + chunk], finite[:, start:start + chunk]
        valid = f[:, None, :] & f[None, :, :]
        with np.errstate(invalid="ignore"):
            win = (a[:, None, :] < a[None, :, :]) & valid
        c = counts[:, start:start + chunk].T.astype(np.float64)
        wins += win.reshape(n * n, -1).astype(np.float64) @ c
        totals += valid.reshape(n * n, -1).astype(np.float64) @ c
    w = np.where(totals > 0, wins / np.maximum(totals, 1), 0.5).T.reshape(b, n, n)
    idx = np.arange(n)
    w[:, idx, idx] = 0.5
    return w


def _interval(samples: np.ndarray, point: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    q = (1 - confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column: pixels' affinity
        lo = np.nanquantile(samples, q, axis=0)
        hi = np.nanquantile(samples, 1 - q, axis=0)
    return np.fmin(lo, point), np.fmax(hi, point)


def target_affinity(losses: np.ndarray, *, self_index: int | None, pixels_index: int | None,
                    bootstrap: int = 0, seed: int = 0, confidence: float = 0.95) -> TargetAffinity:
    """AHP affinity, gain, quality and win rates of one target's candidates (see module notes)."""
    arr = _check_losses(losses)
    n, m = arr.shape
    s_idx = _index("self_index", self_index, n, optional=True)
    p_idx = _index("pixels_index", pixels_index, n, optional=True)
    if s_idx is not None and s_idx == p_idx:
        raise InvalidInputError("self_index and pixels_index: must be different rows")
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise InvalidInputError(f"bootstrap: must be an integer >= 0, got {bootstrap!r}")
    if not 0.0 < confidence < 1.0:
        raise InvalidInputError(f"confidence: must be in (0, 1), got {confidence!r}")
    if np.isnan(arr).all(axis=1).any():
        bad = int(np.flatnonzero(np.isnan(arr).all(axis=1))[0])
        raise InvalidInputError(f"losses: row {bad} has no finite loss on any image")
    tour = np.array([i for i in range(n) if i != p_idx], dtype=int)
    if len(tour) == 0:
        raise InvalidInputError("losses: the tournament needs at least one candidate besides pixels")
    w = win_rate_matrix(arr)
    aff, gain, quality, cr = _stats(w, tour, s_idx, p_idx)
    res = TargetAffinity(affinity=aff, gain=gain, quality=quality, win_rates=w, consistency_ratio=cr,
                         bootstrap=int(bootstrap), confidence=confidence)
    if bootstrap:
        rng = np.random.default_rng(seed)
        counts = rng.multinomial(m, np.full(m, 1.0 / m), size=int(bootstrap))
        ws = _bootstrap_win_rates(arr, counts)
        affs = np.stack([_stats(wb, tour, s_idx, p_idx)[0] for wb in ws])
        res.affinity_low, res.affinity_high = _interval(affs, aff, confidence)
        res.win_rates_low, res.win_rates_high = _interval(ws, w, confidence)
        if gain is not None and p_idx is not None:
            res.gain_low, res.gain_high = _interval(ws[:, :, p_idx], gain, confidence)
        if quality is not None and s_idx is not None:
            res.quality_low, res.quality_high = _interval(ws[:, :, s_idx], quality, confidence)
    return res
