"""Training-free transferability proxies: LogME and H-score on cached source features.

Both estimate, from frozen features and a target alone, how well a transfer from that source
would do — in seconds instead of a training run — so every (source, target) pair gets an
estimated affinity before (or instead of) any transfer is trained. The estimators are in
:mod:`taskonomy.affinity._estimators` (with their formulas and references), the rows they score
in :mod:`taskonomy.affinity._proxy_rows`; this module scores candidates with them.

H-score is defined for discrete labels only: continuous target columns are discretised into
``bins`` quantile bins each and their H-scores averaged.

From scores to affinities (:func:`proxy_affinities`): a softmax of the scores over a target's
candidates with the scores' standard deviation as temperature, so they sum to 1 per target
like the AHP affinities of the trained table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from taskonomy.affinity._estimators import Spectrum, h_score, logme
from taskonomy.affinity._proxy_rows import ProxyCache, proxy_rows
from taskonomy.contract import PROXY_METHODS, ProxyMethod
from taskonomy.errors import InvalidInputError
from taskonomy.tasks import SEMANTIC_UNCERTAIN, TaskSpec

__all__ = [
    "PROXY_METHODS", "ProxyCache", "ProxyMethod", "Spectrum", "h_score", "logme", "proxy_affinities", "proxy_rows",
    "proxy_scores", "transfer_proxy",
]


def _quantise(col: np.ndarray, bins: int) -> np.ndarray:
    edges = np.unique(np.quantile(col, np.linspace(0, 1, bins + 1)[1:-1]))
    return np.searchsorted(edges, col, side="right").astype(np.int64)


def _one_hot(ids: np.ndarray) -> np.ndarray:
    _, inv = np.unique(ids, return_inverse=True)
    out = np.zeros((ids.shape[0], int(inv.max()) + 1))
    out[np.arange(ids.shape[0]), inv] = 1.0
    return out


def transfer_proxy(target: TaskSpec, features: Sequence[Mapping[str, np.ndarray]], data: Mapping[str, np.ndarray],
                   *, method: ProxyMethod = "logme", pixels_per_image: int = 16, bins: int = 8, seed: int = 0,
                   cache: ProxyCache | None = None) -> float:
    """The proxy score (higher = better transfer expected) of ``features`` for ``target`` on ``data``.

    Pass one :class:`ProxyCache` when scoring many targets on the same sources: the rows and
    their spectrum are then computed once per source.
    """
    if method not in PROXY_METHODS:
        raise InvalidInputError(f"unknown proxy method {method!r}; known: {', '.join(PROXY_METHODS)}")
    f, y, discrete = proxy_rows(target, features, data, pixels_per_image=pixels_per_image, seed=seed, cache=cache)
    certain = y != SEMANTIC_UNCERTAIN if target.output.kind == "labels" else None
    if certain is not None and not certain.all():  # uncertain pixels are out of the loss: out of the rows too
        if not certain.any():
            raise InvalidInputError(f"no sampled pixel of target {target.target!r} has a certain label")
        f, y, cache = f[certain], y[certain], None  # the cache's spectrum is of all the rows
    if method == "logme":
        cols = _one_hot(y) if discrete else y
        spec = cache.spectrum(f) if cache is not None else Spectrum.of(f)
        return logme(spec, cols - cols.mean(axis=0, keepdims=True))
    if discrete:
        return h_score(f, y)
    varying = [c for c in range(y.shape[1]) if np.ptp(y[:, c]) > 0]
    if not varying:
        return 0.0
    return float(np.mean([h_score(f, _quantise(y[:, c], bins)) for c in varying]))


def proxy_scores(target: TaskSpec, candidates: Mapping[str, Sequence[Mapping[str, np.ndarray]]],
                 data: Mapping[str, np.ndarray], *, method: ProxyMethod = "logme", pixels_per_image: int = 16,
                 seed: int = 0) -> dict[str, float]:
    """Proxy score of every candidate (name → its sources' features) for ``target``; same pixels for all."""
    if not candidates:
        raise InvalidInputError("candidates must name at least one (name -> features) pair")
    return {name: transfer_proxy(target, feats, data, method=method, pixels_per_image=pixels_per_image, seed=seed)
            for name, feats in candidates.items()}  # different sources per candidate: nothing to share


def proxy_affinities(scores: Mapping[str, float]) -> dict[str, float]:
    """Scores → affinities summing to 1: ``softmax(s / std(s))`` (uniform when all scores are equal)."""
    if not scores:
        raise InvalidInputError("scores must not be empty")
    names = list(scores)
    s = np.array([float(scores[k]) for k in names])
    if not np.isfinite(s).all():
        raise InvalidInputError("scores must be finite")
    sd = float(s.std())
    z = (s - s.max()) / sd if sd > 0 else np.zeros_like(s)
    w = np.exp(z)
    w = w / w.sum()
    return {k: float(v) for k, v in zip(names, w, strict=True)}
