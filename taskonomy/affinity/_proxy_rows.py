"""The rows a proxy scores: cached source representations against a target's values.

* Global targets (vector, class, distribution, binary): one row per image, the flattened
  representation of every view and source, channel-standardised.
* Dense targets (pixels, labels, embedding): ``pixels_per_image`` pixels sampled per image
  (seeded); each row is the 3 × 3 neighbourhood of the representation cell over that pixel (the
  representation upsampled by nearest neighbour to the image, where the transfer's two 3 × 3
  convs look) against the target value at the pixel.
* Targets: ``pixels``/``vector``/``distribution``/``binary`` regress their channels; ``labels``
  and ``class`` one-hot; ``embedding`` (segment ids only mean something within an image):
  pairs of sampled pixels of one image, the row ``|f_a − f_b|`` against "same segment" (0/1).

:class:`ProxyCache` keeps the rows (and their :class:`~taskonomy.affinity._estimators.Spectrum`)
of one set of sources for every target scored on them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from taskonomy.affinity._estimators import Spectrum
from taskonomy.errors import InvalidInputError
from taskonomy.tasks import TaskSpec

__all__ = ["ProxyCache", "proxy_rows"]


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
