"""Principal curvature at a neighbourhood scale, from a view's per-pixel geometry (compiled with numba).

As curvature is estimated on a scanned mesh: the unit normals are smoothed by a Gaussian of
``sigma`` pixels that does not mix across occlusions (two separable passes, each stopping at the
occlusion cuts between 4-neighbours of :func:`taskonomy.world._labels.occlusion_cuts`, so an
object's silhouette leaves the surface behind it untouched) and renormalised; then at each pixel
the shape operator ``S`` maps the image derivatives of the camera-frame points to those of the
smoothed normals, ``dN = S dP``, in the tangent plane (``S = B A^-1`` with ``A``, ``B`` the 2x2
tangent components of ``(P_u, P_v)`` and ``(N_u, N_v)``), symmetrised; its eigenvalues are the
principal curvatures ``k1 >= k2``. Normals face the camera, so a convex surface (a ball, a box
edge) is positive and a concave crease (a wall meeting the floor) negative; a crease or an edge
becomes a band about ``2 sigma`` wide. Derivatives are central where both neighbours connect,
one-sided next to an occlusion or the image border; a pixel cut off on both sides of an axis, or
whose tangent frame degenerates, gets 0.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

F64 = NDArray[np.float64]
B1 = NDArray[np.bool_]


@njit(cache=True)
def _smooth_along_rows(f: F64, cut: B1, g: F64, unit: bool) -> F64:
    """One pass of :func:`_smooth` along each row of ``(H, W, 3)`` (the columns axis): a neighbour
    ``k`` pixels away weighs ``g[k]`` if no cut (``cut[i, j]``: between columns ``j`` and ``j + 1``)
    lies between it and the pixel; the sum is divided by the contributing weights, or with ``unit``
    scaled to unit length."""
    h, w, c = f.shape
    radius = g.shape[0] - 1
    out = np.zeros((h, w, c))
    for i in range(h):
        for j in range(w):
            wsum = g[0]
            acc0, acc1, acc2 = g[0] * f[i, j, 0], g[0] * f[i, j, 1], g[0] * f[i, j, 2]
            for k in range(1, radius + 1):  # to the right until a cut
                jj = j + k
                if jj >= w or cut[i, jj - 1]:
                    break
                wsum += g[k]
                acc0 += g[k] * f[i, jj, 0]
                acc1 += g[k] * f[i, jj, 1]
                acc2 += g[k] * f[i, jj, 2]
            for k in range(1, radius + 1):  # to the left
                jj = j - k
                if jj < 0 or cut[i, jj]:
                    break
                wsum += g[k]
                acc0 += g[k] * f[i, jj, 0]
                acc1 += g[k] * f[i, jj, 1]
                acc2 += g[k] * f[i, jj, 2]
            if unit:
                norm = math.sqrt(acc0 * acc0 + acc1 * acc1 + acc2 * acc2)
                scale = norm if norm > 1e-12 else 1e-12
            else:
                scale = wsum
            out[i, j, 0], out[i, j, 1], out[i, j, 2] = acc0 / scale, acc1 / scale, acc2 / scale
    return out


@njit(cache=True)
def _smooth(f: F64, cut_rows: B1, cut_cols: B1, sigma: float) -> F64:
    """Occlusion-stopping separable Gaussian of ``(H, W, 3)``: along rows of pixels (columns axis)
    then along columns (the same pass on the transposed arrays), each neighbour weighed only if no
    cut lies between it and the pixel; the first pass normalised by the weights that contribute,
    the second to unit length."""
    radius = int(math.ceil(2.0 * sigma))
    g = np.empty(radius + 1)
    for k in range(radius + 1):
        g[k] = math.exp(-0.5 * (k / sigma) ** 2)
    tmp = _smooth_along_rows(f, cut_cols, g, False)
    out_t = _smooth_along_rows(np.ascontiguousarray(tmp.transpose((1, 0, 2))), np.ascontiguousarray(cut_rows.T),
                               g, True)
    return np.ascontiguousarray(out_t.transpose((1, 0, 2)))


@njit(cache=True, inline="always")
def _diff(f: F64, i: int, j: int, di: int, dj: int, fwd: bool, bwd: bool, out: F64) -> None:
    """Derivative of ``f`` at ``(i, j)`` along ``(di, dj)`` into ``out`` (3): central, or one-sided."""
    for c in range(3):
        if fwd and bwd:
            out[c] = 0.5 * (f[i + di, j + dj, c] - f[i - di, j - dj, c])
        elif fwd:
            out[c] = f[i + di, j + dj, c] - f[i, j, c]
        else:
            out[c] = f[i, j, c] - f[i - di, j - dj, c]


@njit(cache=True)
def _shape_operator(points: F64, n: F64, cut_rows: B1, cut_cols: B1) -> F64:
    h, w, _ = points.shape
    out = np.zeros((h, w, 2))
    pu, pv, nu, nv = np.empty(3), np.empty(3), np.empty(3), np.empty(3)
    for i in range(h):
        for j in range(w):
            right = j + 1 < w and not cut_cols[i, j]
            left = j > 0 and not cut_cols[i, j - 1]
            down = i + 1 < h and not cut_rows[i, j]
            up = i > 0 and not cut_rows[i - 1, j]
            if not (right or left) or not (down or up):
                continue
            _diff(points, i, j, 0, 1, right, left, pu)
            _diff(n, i, j, 0, 1, right, left, nu)
            _diff(points, i, j, 1, 0, down, up, pv)
            _diff(n, i, j, 1, 0, down, up, nv)
            n0, n1, n2 = n[i, j, 0], n[i, j, 1], n[i, j, 2]
            # tangent basis: t1 along P_u's tangential part, t2 = n x t1
            d = pu[0] * n0 + pu[1] * n1 + pu[2] * n2
            t10, t11, t12 = pu[0] - d * n0, pu[1] - d * n1, pu[2] - d * n2
            tn = math.sqrt(t10 * t10 + t11 * t11 + t12 * t12)
            if tn < 1e-12:
                continue
            t10, t11, t12 = t10 / tn, t11 / tn, t12 / tn
            t20, t21, t22 = n1 * t12 - n2 * t11, n2 * t10 - n0 * t12, n0 * t11 - n1 * t10
            a11 = t10 * pu[0] + t11 * pu[1] + t12 * pu[2]
            a12 = t10 * pv[0] + t11 * pv[1] + t12 * pv[2]
            a21 = t20 * pu[0] + t21 * pu[1] + t22 * pu[2]
            a22 = t20 * pv[0] + t21 * pv[1] + t22 * pv[2]
            b11 = t10 * nu[0] + t11 * nu[1] + t12 * nu[2]
            b12 = t10 * nv[0] + t11 * nv[1] + t12 * nv[2]
            b21 = t20 * nu[0] + t21 * nu[1] + t22 * nu[2]
            b22 = t20 * nv[0] + t21 * nv[1] + t22 * nv[2]
            det = a11 * a22 - a12 * a21
            scale = math.sqrt(pu[0] ** 2 + pu[1] ** 2 + pu[2] ** 2) * math.sqrt(pv[0] ** 2 + pv[1] ** 2 + pv[2] ** 2)
            if abs(det) <= 1e-6 * scale or scale == 0.0:
                continue
            # S = B A^-1, A^-1 = [[a22, -a12], [-a21, a11]] / det; symmetrised
            s11 = (b11 * a22 - b12 * a21) / det
            s12 = (-b11 * a12 + b12 * a11) / det
            s21 = (b21 * a22 - b22 * a21) / det
            s22 = (-b21 * a12 + b22 * a11) / det
            mid = 0.5 * (s11 + s22)
            off = 0.5 * (s12 + s21)
            rad = math.sqrt(0.25 * (s11 - s22) ** 2 + off * off)
            out[i, j, 0] = mid + rad
            out[i, j, 1] = mid - rad
    return out


def estimate_curvature(points: F64, normals: F64, cut_rows: B1, cut_cols: B1, *, sigma: float) -> F64:
    """Principal curvatures ``(H, W, 2)`` (1/m, ``k1 >= k2``, convex positive) of the surfaces seen at
    ``(H, W, 3)`` camera-frame ``points`` with unit ``normals`` (see the module docstring); ``cut_rows``
    ``(H - 1, W)`` and ``cut_cols`` ``(H, W - 1)`` mark the occlusions between 4-neighbours."""
    p = np.ascontiguousarray(points, dtype=np.float64)
    cr = np.ascontiguousarray(cut_rows, dtype=np.bool_)
    cc = np.ascontiguousarray(cut_cols, dtype=np.bool_)
    n = _smooth(np.ascontiguousarray(normals, dtype=np.float64), cr, cc, float(sigma))
    return _shape_operator(p, n, cr, cc)
