"""The transferability estimators behind the proxies: LogME and H-score of features for a target.

Plain functions of a feature matrix ``F`` (n × D) and target values; how the rows of ``F`` are
built from cached representations is :mod:`taskonomy.affinity._proxy_rows`.

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
from dataclasses import dataclass

import numpy as np

from taskonomy.errors import InvalidInputError

__all__ = ["Spectrum", "h_score", "logme"]


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
