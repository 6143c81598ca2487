"""Training-free transferability proxies: LogME and H-score on cached source features.

Both estimate, from frozen features ``F`` (n × D) and a target ``Y`` alone, how well a
transfer from that source would do — in seconds instead of a training run — so every
(source, target) pair gets an estimated affinity before (or instead of) any transfer is trained.

LogME (You et al. 2021)
-----------------------
For one target column ``y`` (n,) the Bayesian linear model ``y = F w + ε``,
``w ~ N(0, α⁻¹ I_D)``, ``ε ~ N(0, β⁻¹)``, has log evidence

    L(α, β) = n/2 log β + D/2 log α − n/2 log 2π − β/2 ‖F m − y‖² − α/2 ‖m‖² − 1/2 log|A|,
    A = α I_D + β FᵀF,   m = β A⁻¹ Fᵀ y.

With the thin SVD ``F = U diag(σ) Vᵀ`` (k = min(n, D) singular values, zeros included) and
``z = Uᵀ y``  (the SVD from the eigendecomposition of the smaller Gram matrix, :class:`Spectrum`):
``log|A| = Σ_{i≤k} log(α + β σ_i²) + (D − k) log α`` — the second term matters
whenever there are fewer samples than feature dimensions —, ``‖m‖² = Σ (β σ_i z_i / (α + β σ_i²))²``
and ``‖F m − y‖² = Σ (σ_i m_i − z_i)² + (‖y‖² − ‖z‖²)``. α and β are found by the paper's
fixed-point iteration (MacKay's evidence approximation):

    γ = Σ_i β σ_i² / (α + β σ_i²),   α ← γ / ‖m‖²,   β ← (n − γ) / ‖F m − y‖²,

and LogME is ``L(α, β) / n``. The rows' features are standardised per dimension, so the target
columns are centred (the model has no intercept; an uncentred mean would swamp the evidence of
every source alike). Several columns (one-hot classes, vector dimensions, pixel
channels) are averaged, as in the paper. All columns share one SVD.

H-score (Bao et al. 2019)
-------------------------
For discrete labels ``y``: ``H(f) = tr(cov(f)⁻¹ cov(E[f | y]))`` with ``f`` centred. With few
samples per dimension the sample covariance is (near) singular and its inverse rewards noise, so
``cov(f)`` is shrunk towards ``(tr/D)·I`` with the Ledoit–Wolf intensity first (the shrinkage
H-score of Ibrahim et al.), then pseudo-inverted.
Continuous target columns are discretised into ``bins`` quantile bins each and their H-scores
averaged (H-score is defined for discrete labels only).

Rows (``proxy_rows``)
---------------------
* Global targets (vector, class, distribution, binary): one row per image, the flattened
  representation of every view and source, channel-standardised.
* Dense targets (pixels, labels, embedding): ``pixels_per_image`` pixels sampled per image
  (seeded); each row is the 3 × 3 neighbourhood of the representation cell over that pixel (the
  representation upsampled by nearest neighbour to the image, where the transfer's two 3 × 3
  convs look) against the target value at the pixel.
* Targets: ``pixels``/``vector``/``distribution``/``binary`` regress their channels; ``labels``
  and ``class`` one-hot; ``embedding`` (segment ids only mean something within an image):
  pairs of sampled pixels of one image, the row ``|f_a − f_b|`` against "same segment" (0/1).

From scores to affinities (:func:`proxy_affinities`): a softmax of the scores over a target's
candidates with the scores' standard deviation as temperature, so they sum to 1 per target
like the AHP affinities of the trained table.

References
----------
* K. You, Y. Liu, J. Wang, M. Long, "LogME: Practical Assessment of Pre-trained Models for
  Transfer Learning", ICML 2021 (Algorithm 1; Eq. 2 and the fixed-point updates).
* Y. Bao, Y. Li, S.-L. Huang, L. Zhang, L. Zheng, A. Zamir, L. Guibas, "An Information-theoretic
  Approach to Transferability in Task Transfer Learning", ICIP 2019 (Definition 2).
* S. Ibrahim, N. Ponomareva, R. Mazumder, "Newer is not always better: Rethinking
  transferability metrics, their peculiarities, stability and performance", ECML PKDD 2022.
* O. Ledoit, M. Wolf, "A well-conditioned estimator for large-dimensional covariance
  matrices", J. Multivariate Analysis 88(2), 2004.
* D. J. C. MacKay, "Bayesian Interpolation", Neural Computation 4(3), 1992.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from taskonomy.errors import InvalidInputError
from taskonomy.tasks import TaskSpec

ProxyMethod = Literal["logme", "hscore"]
PROXY_METHODS: tuple[str, ...] = ("logme", "hscore")


def _check_matrix(features: np.ndarray) -> np.ndarray:
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2 or f.shape[1] < 1:
        raise InvalidInputError(f"features must be a 2-D array (n >= 2 samples, D >= 1 dims), got shape {f.shape}")
    if not np.isfinite(f).all():
        raise InvalidInputError("features hold NaN or infinite values")
    return f


@dataclass(frozen=True)
class Spectrum:
    """The thin SVD of a feature matrix ``F`` (n × D) as LogME needs it: ``F = U diag(s) Vᵀ``.

    Computed from the smaller Gram matrix (``FᵀF`` when n ≥ D, else ``FFᵀ``) by a symmetric
    eigendecomposition: for the tall row matrices of dense targets (thousands of pixel rows, tens
    of dimensions) that is several times cheaper than an SVD of ``F``, and one spectrum serves
    every target scored on the same rows (:class:`ProxyCache`). Singular values below
    ``1e-10 · max`` count as zero (their directions carry no signal: ``z_i = 0``).
    """

    f: np.ndarray  # (n, D)
    s: np.ndarray  # (k,), k = min(n, D), descending
    v: np.ndarray | None  # (D, k) when n >= D
    u: np.ndarray | None  # (n, k) when n < D

    @classmethod
    def of(cls, features: np.ndarray) -> Spectrum:
        f = _check_matrix(features)
        n, d = f.shape
        gram = f.T @ f if n >= d else f @ f.T
        w, vec = np.linalg.eigh(gram)
        w, vec = w[::-1], vec[:, ::-1]
        s = np.sqrt(np.clip(w, 0.0, None))
        s[s <= 1e-10 * max(float(s[0]), 1e-300)] = 0.0
        return cls(f=f, s=s, v=vec, u=None) if n >= d else cls(f=f, s=s, v=None, u=vec)

    def project(self, y: np.ndarray) -> np.ndarray:
        """``z = Uᵀ y`` (k, K), zero along null directions."""
        if self.u is not None:
            z = self.u.T @ y
        else:
            assert self.v is not None
            fy = self.v.T @ (self.f.T @ y)
            z = np.divide(fy, self.s[:, None], out=np.zeros_like(fy), where=self.s[:, None] > 0)
        z[self.s == 0] = 0.0
        return z


def logme(features: np.ndarray | Spectrum, targets: np.ndarray, *, max_iter: int = 200, tol: float = 1e-7) -> float:
    """Mean LogME over the columns of ``targets`` (n,) or (n, K) given ``features`` (n, D).

    ``features`` may be a precomputed :class:`Spectrum` (shared by several targets). See the
    module docstring for the evidence and the fixed-point iteration.
    """
    spec = features if isinstance(features, Spectrum) else Spectrum.of(features)
    y = np.asarray(targets, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    n, d = spec.f.shape
    if y.ndim != 2 or y.shape[0] != n:
        raise InvalidInputError(f"targets must be (n,) or (n, K) with n = {n}, got shape {y.shape}")
    if not np.isfinite(y).all():
        raise InvalidInputError("targets hold NaN or infinite values")
    s = spec.s
    k = s.shape[0]
    s2 = s * s
    z = spec.project(y)  # (k, K)
    z2 = z * z
    y2 = (y * y).sum(axis=0)
    rest = np.maximum(y2 - z2.sum(axis=0), 0.0)  # ‖y‖² − ‖Uᵀy‖²: the part of y outside F's column space
    cols = y.shape[1]
    alpha = np.ones(cols)
    beta = np.ones(cols)
    todo = np.ones(cols, dtype=bool)  # columns still iterating (each stops at its own fixed point)
    for _ in range(max_iter):
        a, b = alpha[todo], beta[todo]
        zt = z[:, todo]
        denom = a[None, :] + b[None, :] * s2[:, None]  # (k, K')
        gamma = (b[None, :] * s2[:, None] / denom).sum(axis=0)
        m = b[None, :] * s[:, None] * zt / denom  # m in V's basis
        m2 = np.maximum((m * m).sum(axis=0), 1e-300)
        res2 = np.maximum(((s[:, None] * m - zt) ** 2).sum(axis=0) + rest[todo], 1e-300)
        new_a = np.clip(gamma / m2, 1e-12, 1e12)
        new_b = np.clip(np.maximum(n - gamma, 1e-12) / res2, 1e-12, 1e12)
        done = (np.abs(new_a - a) <= tol * a) & (np.abs(new_b - b) <= tol * b)
        alpha[todo], beta[todo] = new_a, new_b
        todo[np.flatnonzero(todo)[done]] = False
        if not todo.any():
            break
    denom = alpha[None, :] + beta[None, :] * s2[:, None]
    m = beta[None, :] * s[:, None] * z / denom
    m2 = (m * m).sum(axis=0)
    res2 = ((s[:, None] * m - z) ** 2).sum(axis=0) + rest
    logdet = np.log(denom).sum(axis=0) + (d - k) * np.log(alpha)
    evidence = (n / 2 * np.log(beta) + d / 2 * np.log(alpha) - n / 2 * math.log(2 * math.pi)
                - beta / 2 * res2 - alpha / 2 * m2 - logdet / 2)
    return float(np.mean(evidence / n))


def h_score(features: np.ndarray, labels: np.ndarray) -> float:
    """H-score ``tr(pinv(cov f) · cov(E[f | y]))`` of integer ``labels`` (n,) given ``features`` (n, D)."""
    f = _check_matrix(features)
    y = np.asarray(labels)
    if y.ndim != 1 or y.shape[0] != f.shape[0]:
        raise InvalidInputError(f"labels must be (n,) with n = {f.shape[0]}, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise InvalidInputError(f"labels must be integers (discretise continuous targets first), got {y.dtype}")
    n = f.shape[0]
    f = f - f.mean(axis=0, keepdims=True)
    cov_f = f.T @ f / n
    _, inv = np.unique(y, return_inverse=True)
    counts = np.bincount(inv).astype(np.float64)
    sums = np.zeros((counts.shape[0], f.shape[1]))
    np.add.at(sums, inv, f)
    means = sums / counts[:, None]
    cov_g = (means * counts[:, None]).T @ means / n
    # Ledoit–Wolf shrinkage of cov(f) towards (tr/D)·I: λ = min(b̄², δ²)/δ², δ² = ‖S − μI‖²_F,
    # b̄² = (Σ_k ‖x_k‖⁴ − n‖S‖²_F) / n².
    d = f.shape[1]
    mu = float(np.trace(cov_f)) / d
    delta = float(((cov_f - mu * np.eye(d)) ** 2).sum())
    bbar = max(float(((f * f).sum(axis=1) ** 2).sum()) - n * float((cov_f ** 2).sum()), 0.0) / (n * n)
    lam = 0.0 if delta <= 0 else min(bbar, delta) / delta
    shrunk = (1 - lam) * cov_f + lam * mu * np.eye(d)
    pinv = np.linalg.pinv(shrunk, rcond=1e-10, hermitian=True)
    return float(np.trace(pinv @ cov_g))


def _quantise(col: np.ndarray, bins: int) -> np.ndarray:
    edges = np.unique(np.quantile(col, np.linspace(0, 1, bins + 1)[1:-1]))
    return np.searchsorted(edges, col, side="right").astype(np.int64)


def _one_hot(ids: np.ndarray) -> np.ndarray:
    _, inv = np.unique(ids, return_inverse=True)
    out = np.zeros((ids.shape[0], int(inv.max()) + 1))
    out[np.arange(ids.shape[0]), inv] = 1.0
    return out


def _standardise(x: np.ndarray) -> np.ndarray:
    std = x.std(axis=0, keepdims=True)
    return (x - x.mean(axis=0, keepdims=True)) / np.where(std > 1e-8, std, 1.0)


def _checked_arrays(target: TaskSpec, features: Sequence[Mapping[str, np.ndarray]]) -> list[np.ndarray]:
    """Every view's and source's representation (N, r, h, h), validated (one shape for all)."""
    if isinstance(features, Mapping) or not features:
        raise InvalidInputError("features must be a non-empty sequence with one mapping (key -> array) per source")
    parts: list[np.ndarray] = []
    for s, src in enumerate(features):
        for key in target.inputs:
            if key not in src:
                raise InvalidInputError(f"features of source #{s} lack target input {key!r} of task {target.name!r}")
            a = np.asarray(src[key])
            if a.ndim != 4 or a.shape[2] != a.shape[3] or a.shape[0] == 0:
                raise InvalidInputError(f"features of source #{s} for {key!r} must be (N, r, h, h), got {a.shape}")
            if parts and (a.shape[0] != parts[0].shape[0] or a.shape[2:] != parts[0].shape[2:]):
                raise InvalidInputError(f"features disagree in shape: {a.shape} vs {parts[0].shape}")
            parts.append(a)
    return parts


def _source_maps(target: TaskSpec, features: Sequence[Mapping[str, np.ndarray]]) -> np.ndarray:
    """(N, views·S·r, h, h): every view's and source's representation, channel-concatenated."""
    return np.concatenate([a.astype(np.float32, copy=False) for a in _checked_arrays(target, features)], axis=1)


#: A candidate's feature rows and where they were sampled (see :func:`_feature_rows`).
_Rows = tuple[np.ndarray, tuple[np.ndarray, ...]]


class ProxyCache:
    """Feature rows and their :class:`Spectrum`, shared by every target scored on the same sources.

    The rows of a candidate depend on its sources' features, the target's input views, the
    output family (global, dense pixels, pixel pairs) and the pixel sample (``pixels_per_image``,
    ``seed``) — not on the target's values. Scoring all targets of one source through one cache
    builds the rows and decomposes them once per source instead of once per (source, target).
    Entries are keyed by the identity of the feature mappings and hold a reference to them.
    """

    def __init__(self) -> None:
        self._rows: dict[tuple[object, ...], tuple[object, np.ndarray, tuple[np.ndarray, ...]]] = {}
        self._spectra: dict[int, Spectrum] = {}  # by the id of rows this cache holds (and so keeps alive)

    def rows(self, key: tuple[object, ...], keep: object, build: Callable[[], _Rows]) -> _Rows:
        if key not in self._rows:
            self._rows[key] = (keep, *build())
        _, f, where = self._rows[key]
        return f, where

    def spectrum(self, f: np.ndarray) -> Spectrum:
        """The spectrum of rows ``f`` returned by :meth:`rows`, decomposed once."""
        if id(f) not in self._spectra:
            self._spectra[id(f)] = Spectrum.of(f)
        return self._spectra[id(f)]


def _family(target: TaskSpec) -> str:
    if not target.output.dense:
        return "global"
    return "pairs" if target.output.kind == "embedding" else "dense"


def _feature_rows(target: TaskSpec, features: Sequence[Mapping[str, np.ndarray]], *, pixels_per_image: int,
                  seed: int, side: int) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """The rows' features and where they were sampled: ``()`` (global) or ``(img, py, px)`` pixel positions
    of a ``side`` x ``side`` target (a multiple of the feature maps' side)."""
    maps = _source_maps(target, features)
    n, c, h, _ = maps.shape
    if not target.output.dense:
        return _standardise(maps.reshape(n, -1).astype(np.float64)), ()
    stride = side // h
    rng = np.random.default_rng(seed)
    p = min(pixels_per_image, side * side)
    flat = np.stack([rng.choice(side * side, size=p, replace=False) for _ in range(n)])  # (n, p)
    py, px = flat // side, flat % side
    cy, cx = py // stride, px // stride
    padded = np.pad(maps, ((0, 0), (0, 0), (1, 1), (1, 1)))
    img = np.arange(n)[:, None]
    neigh = [padded[img, :, cy + dy, cx + dx] for dy in range(3) for dx in range(3)]  # each (n, p, c)
    f = _standardise(np.concatenate(neigh, axis=2).reshape(n * p, 9 * c).astype(np.float64))
    if _family(target) == "pairs":  # pairs of pixels of one image: |f_a − f_b|
        half = p // 2
        if half < 1:
            raise InvalidInputError("embedding targets need pixels_per_image >= 2 (pixel pairs)")
        fa = f.reshape(n, p, -1)
        f = _standardise(np.abs(fa[:, :half] - fa[:, half : 2 * half]).reshape(n * half, -1))
    return f, (img, py, px)


def _rows_key(target: TaskSpec, features: Sequence[Mapping[str, np.ndarray]], pixels_per_image: int,
              seed: int) -> tuple[object, ...]:
    family = _family(target)
    sample = (pixels_per_image, seed) if family != "global" else ()
    return (tuple(id(f) for f in features), tuple(target.inputs), family, *sample)


def proxy_rows(target: TaskSpec, features: Sequence[Mapping[str, np.ndarray]], data: Mapping[str, np.ndarray], *,
               pixels_per_image: int = 16, seed: int = 0,
               cache: ProxyCache | None = None) -> tuple[np.ndarray, np.ndarray, bool]:
    """(F, Y, discrete): the rows a proxy scores (see the module docstring).

    ``discrete`` tells whether ``Y`` (n,) holds class ids (labels, class, embedding) or ``Y``
    (n, K) continuous columns. With a ``cache``, ``F`` is shared with other targets of the same sources.
    """
    if target.output.kind == "none" or not target.target:
        raise InvalidInputError(f"task {target.name!r} has no target to estimate transfers to")
    if target.target not in data:
        raise InvalidInputError(f"data has no target {target.target!r} of task {target.name!r}")
    if isinstance(pixels_per_image, bool) or not isinstance(pixels_per_image, int) or pixels_per_image < 1:
        raise InvalidInputError(f"pixels_per_image must be an integer >= 1, got {pixels_per_image!r}")
    first = _checked_arrays(target, features)[0]
    n, h = int(first.shape[0]), int(first.shape[2])
    y = np.asarray(data[target.target])
    if y.shape[0] != n:
        raise InvalidInputError(f"target {target.target!r} has {y.shape[0]} images, features have {n}")
    kind = target.output.kind
    side = int(y.shape[-1]) if target.output.dense else 0
    if target.output.dense and (y.shape[-2] != side or side % h or side < h):
        raise InvalidInputError(f"dense target {target.target!r} must be square with a side that is a multiple "
                                f"of the features' {h}, got {y.shape}")

    def build() -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        return _feature_rows(target, features, pixels_per_image=pixels_per_image, seed=seed, side=side)

    if cache is None:
        f, where = build()
    else:
        f, where = cache.rows(_rows_key(target, features, pixels_per_image, seed), features, build)
    if not target.output.dense:
        if kind == "class":
            return f, y.reshape(n).astype(np.int64), True
        return f, y.reshape(n, -1).astype(np.float64), False
    img, py, px = where
    if kind == "pixels":
        return f, y[img, :, py, px].reshape(n * py.shape[1], -1).astype(np.float64), False
    ids = y[img, py, px].astype(np.int64)
    if kind == "embedding":  # "same segment" for each pixel pair of one image
        half = py.shape[1] // 2
        return f, (ids[:, :half] == ids[:, half : 2 * half]).astype(np.int64).reshape(n * half), True
    return f, ids.reshape(n * py.shape[1]), True


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
