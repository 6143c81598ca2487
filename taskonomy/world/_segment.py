"""Felzenszwalb-Huttenlocher graph segmentation, compiled with numba.

The algorithm and its parameters are scikit-image's ``skimage.segmentation.felzenszwalb``
(Felzenszwalb & Huttenlocher 2004, "Efficient Graph-Based Image Segmentation", IJCV 59(2)):

1. smooth every channel with a Gaussian of ``sigma`` pixels;
2. weigh the edges of the 8-connected pixel grid by the Euclidean distance of their smoothed
   feature vectors; visit them in increasing weight;
3. join the components ``C1, C2`` of an edge of weight ``w`` when
   ``w < min(Int(C1) + k / |C1|, Int(C2) + k / |C2|)``, with ``k = scale / 255`` and ``Int(C)``
   the weight of the last edge that grew ``C``;
4. join every remaining component smaller than ``min_size`` pixels along its cheapest edges.

Segments are numbered in raster order of their first pixel. The edge order is a stable sort of
the weights in single precision (an LSD radix sort on their bit patterns: linear in the number
of edges), so equal weights keep the grid order; scikit-image's quicksort may order ties differently, which changes
a few pixels of a few segmentations (``benchmarks/world.py`` measures the agreement).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

F64 = NDArray[np.float64]


@njit(cache=True)
def _blur(img: F64, w: F64) -> F64:
    """Separable Gaussian blur of every channel of ``(H, W, C)`` with the 1D kernel ``w`` (odd length),
    edges extended by their nearest pixel (``scipy.ndimage.gaussian_filter(mode="nearest")``)."""
    h, wd, c = img.shape
    r = w.shape[0] // 2
    padded = np.empty((h + 2 * r, wd, c))  # rows extended by their edge rows
    for y in range(h + 2 * r):
        padded[y] = img[min(max(y - r, 0), h - 1)]
    tmp = np.zeros((h, wd + 2 * r, c))
    for y in range(h):
        for j in range(2 * r + 1):
            wj = w[j]
            for x in range(wd):
                for ch in range(c):
                    tmp[y, x + r, ch] += wj * padded[y + j, x, ch]
        for x in range(r):  # columns extended by their edge columns
            for ch in range(c):
                tmp[y, x, ch] = tmp[y, r, ch]
                tmp[y, wd + r + x, ch] = tmp[y, wd + r - 1, ch]
    out = np.zeros((h, wd, c))
    for y in range(h):
        for j in range(2 * r + 1):
            wj = w[j]
            for x in range(wd):
                for ch in range(c):
                    out[y, x, ch] += wj * tmp[y, x + j, ch]
    return out


def _gaussian_kernel(sigma: float, truncate: float = 4.0) -> F64:
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


@njit(cache=True)
def _grid_edges(img: F64) -> tuple[F64, NDArray[np.int64], NDArray[np.int64]]:
    """Weights and end pixels of the 8-connected grid's edges: right, down, down-right, up-right."""
    h, w, c = img.shape
    n = h * (w - 1) + (h - 1) * w + 2 * (h - 1) * (w - 1)
    cost = np.empty(n)
    a = np.empty(n, dtype=np.int64)
    b = np.empty(n, dtype=np.int64)
    e = 0
    # (row, column) offsets of the edge's two ends b -> a, in scikit-image's order
    for dy0, dx0, dy1, dx1 in ((0, 0, 1, 0), (0, 0, 0, 1), (0, 0, 1, 1), (1, 0, 0, 1)):
        rows = h - 1 if dy0 + dy1 > 0 else h
        cols = w - 1 if dx0 + dx1 > 0 else w
        for y in range(rows):
            for x in range(cols):
                y0, x0, y1, x1 = y + dy0, x + dx0, y + dy1, x + dx1
                s = 0.0
                for ch in range(c):
                    diff = img[y1, x1, ch] - img[y0, x0, ch]
                    s += diff * diff
                cost[e] = np.sqrt(s)
                a[e] = y1 * w + x1
                b[e] = y0 * w + x0
                e += 1
    return cost, a, b


@njit(cache=True)
def _radix_argsort(keys: NDArray[np.uint32]) -> NDArray[np.int64]:
    """Stable argsort of unsigned 32-bit keys (LSD radix sort, 11 bits a pass)."""
    n = keys.shape[0]
    order = np.arange(n)
    tmp = np.empty(n, dtype=np.int64)
    count = np.empty(2049, dtype=np.int64)
    for shift in (0, 11, 22):
        count[:] = 0
        for i in range(n):
            count[((keys[i] >> shift) & 0x7FF) + 1] += 1
        for j in range(2048):
            count[j + 1] += count[j]
        for i in range(n):
            o = order[i]
            bucket = (keys[o] >> shift) & 0x7FF
            tmp[count[bucket]] = o
            count[bucket] += 1
        order, tmp = tmp, order
    return order


@njit(cache=True, inline="always")
def _find(parent: NDArray[np.int64], i: int) -> int:
    while parent[i] != i:  # path halving
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@njit(cache=True, inline="always")
def _join(parent: NDArray[np.int64], size: NDArray[np.int64], r0: int, r1: int) -> int:
    """Join two roots, the smaller tree under the larger (union by size); returns the new root."""
    if size[r0] < size[r1]:
        r0, r1 = r1, r0
    parent[r1] = r0
    size[r0] += size[r1]
    return r0


@njit(cache=True)
def _segment(cost: F64, a: NDArray[np.int64], b: NDArray[np.int64], order: NDArray[np.int64], n_pixels: int,
             k: float, min_size: int) -> NDArray[np.int64]:
    # the edges in visiting order, so both passes read memory sequentially
    sc, sa, sb = cost[order], a[order], b[order]
    parent = np.arange(n_pixels)
    size = np.ones(n_pixels, dtype=np.int64)
    inner = np.zeros(n_pixels)
    for e in range(sc.shape[0]):
        r0, r1 = _find(parent, sa[e]), _find(parent, sb[e])
        if r0 == r1:
            continue
        if sc[e] < min(inner[r0] + k / size[r0], inner[r1] + k / size[r1]):
            inner[_join(parent, size, r0, r1)] = sc[e]
    for e in range(sc.shape[0]):
        r0, r1 = _find(parent, sa[e]), _find(parent, sb[e])
        if r0 != r1 and (size[r0] < min_size or size[r1] < min_size):
            _join(parent, size, r0, r1)
    # segments numbered in raster order of their first pixel (which pixel is a tree's root does not matter)
    labels = np.empty(n_pixels, dtype=np.int64)
    ids = np.full(n_pixels, -1, dtype=np.int64)
    nxt = 0
    for i in range(n_pixels):
        r = _find(parent, i)
        if ids[r] < 0:
            ids[r] = nxt
            nxt += 1
        labels[i] = ids[r]
    return labels


def felzenszwalb(image: F64, *, scale: float, sigma: float, min_size: int) -> NDArray[np.int64]:
    """Segment ids ``(H, W)`` of an ``(H, W)`` or ``(H, W, C)`` float image (see the module docstring)."""
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 2:
        img = img[..., None]
    h, w, _ = img.shape
    smooth = _blur(np.ascontiguousarray(img), _gaussian_kernel(sigma)) if sigma > 0 else np.ascontiguousarray(img)
    cost, a, b = _grid_edges(smooth)
    # non-negative floats sort like their bit patterns; single precision is ample to order the weights
    order = _radix_argsort(cost.astype(np.float32).view(np.uint32))
    return _segment(cost, a, b, order, h * w, float(scale) / 255.0, int(min_size)).reshape(h, w)
