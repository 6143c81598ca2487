"""Ground-truth labels computed from a rendered view, defined as Taskonomy defines them.

Image-based labels use scikit-image's and scipy's filters (Sobel for Canny's gradient stage, Harris) and the compiled
Felzenszwalb segmentation of :mod:`taskonomy.world._segment` on the rendered rgb; the geometric
ones use the exact per-pixel geometry (camera-frame points and normals) and the cameras.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import distance_transform_edt, gaussian_filter, sobel

from taskonomy.world._geometry import cross3
from taskonomy.world._segment import felzenszwalb

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]

#: Relative depth error above which two neighbouring pixels are not on one continuous surface.
OCCLUSION_TAU = 0.05
#: Refinements of a candidate occlusion (each a quarter of the interval: 4^-4 pixel in the end).
OCCLUSION_LEVELS = 4
HARRIS_K = 0.05


def _normalise_response(r: F64, *, floor: float) -> F64:
    """Clip a corner response at 0, scale to [0, 1] by its maximum (at least ``floor``), then take
    the square root (so that weaker corners stay visible next to the strongest one)."""
    r = np.clip(r, 0.0, None)
    return np.sqrt(r / max(float(r.max()), floor))


#: Gradient magnitude mapped to 1 (about the 99th percentile of the built-in world's images).
EDGE_TEXTURE_SCALE = 0.15


def edge_texture(gray: F64) -> F32:
    """Texture edge strength: Canny's first stage (Gaussian smoothing, sigma 1, then the Sobel
    gradient magnitude) without non-maximum suppression or hysteresis, scaled to [0, 1].

    Taskonomy's 2D edges likewise skip Canny's non-maximum suppression to stay learnable: a thin
    0/1 edge map is so sparse that an L1-trained network settles on predicting no edge at all.
    """
    from skimage.filters import sobel

    magnitude = sobel(gaussian_filter(gray, sigma=1.0))
    return np.clip(magnitude / EDGE_TEXTURE_SCALE, 0.0, 1.0).astype(np.float32)


def keypoints2d(gray: F64) -> F32:
    """Harris corner response ``det(M) - k tr(M)^2`` (sigma 1), clipped at 0, scaled to [0, 1].

    Exactly ``skimage.feature.corner_harris(gray, method="k", k=HARRIS_K, sigma=1)`` (Sobel
    derivatives and a Gaussian window, both with zero padding), with the window applied to the
    three products in one call.
    """
    d_row = sobel(gray, axis=0, mode="constant")
    d_col = sobel(gray, axis=1, mode="constant")
    products = np.stack([d_row * d_row, d_row * d_col, d_col * d_col], axis=-1)
    return _normalise_response(_harris(products, mode="constant"), floor=1e-4).astype(np.float32)


def _harris(products: F64, *, mode: str) -> F64:
    """``det M - k tr(M)^2`` of the structure tensor ``M``: the ``(H, W, 3)`` gradient products
    ``(a_11, a_12, a_22)`` smoothed by a Gaussian window (sigma 1, padding ``mode``) in one call."""
    a11, a12, a22 = np.moveaxis(gaussian_filter(products, (1.0, 1.0, 0.0), mode=mode), -1, 0)
    return np.asarray(a11 * a22 - a12**2 - HARRIS_K * (a11 + a22) ** 2)


def segment_unsup2d(rgb_hwc: F64) -> NDArray[np.int64]:
    """Felzenszwalb-Huttenlocher graph segmentation of the rgb image (segment ids)."""
    return felzenszwalb(rgb_hwc, scale=60.0, sigma=0.5, min_size=20)


#: Weights of the 2.5D segmentation's features: rgb, unit normals, log distance (see segment_unsup25d).
SEGMENT25D_WEIGHTS = (0.1, 0.1, 0.25)


def segment_unsup25d(rgb_hwc: F64, normal_hwc: F64, distance: F64) -> NDArray[np.int64]:
    """Felzenszwalb segmentation of rgb, normals and log distance together (2.5D features).

    The weights (:data:`SEGMENT25D_WEIGHTS`) make it segment surfaces: Felzenszwalb joins a
    component only along edges barely heavier than its heaviest internal edge, so a feature that
    changes faster and faster across a surface (normals towards a barrel's silhouette) cuts it into
    strips unless its per-pixel change stays below the merge threshold (``scale / 255 / |C|``);
    at weight 0.1 a smoothly curved surface stays one segment while a crease (a normal step of 1.4
    for a right angle) and an occlusion (a step of log distance) still separate segments, and the
    small rgb weight keeps texture from cutting a surface into patches.
    """
    wc, wn, wd = SEGMENT25D_WEIGHTS
    feats = np.concatenate([wc * rgb_hwc, wn * normal_hwc, wd * np.log(distance)[..., None]], axis=-1)
    return felzenszwalb(feats, scale=60.0, sigma=0.5, min_size=20)


Refine = Callable[[F64, F64, F64, F64], tuple[F64, F64]]


def occlusion_cuts(depth: F64, rays: F64, surface: NDArray[np.int64],
                   refine: Refine) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_]]:
    """The occlusions between 4-neighbours: ``(boundary, cut_rows, cut_cols)``.

    ``boundary`` marks the pixels on the near side of a depth discontinuity (a 1-pixel map; see
    :func:`edge_occlusion`); ``cut_rows`` ``(H - 1, W)`` is True where pixels ``(i, j)`` and
    ``(i + 1, j)`` are on either side of one, ``cut_cols`` ``(H, W - 1)`` likewise for ``(i, j)`` and
    ``(i, j + 1)``.

    Candidates are 4-neighbours ``p, q`` on different surfaces whose z-depths differ by more than
    :data:`OCCLUSION_TAU` relatively. The segment between their rays is then refined
    :data:`OCCLUSION_LEVELS` times (each time cast 3 rays inside the current interval and keep the
    sub-interval with the largest relative depth step, ``4^-levels`` pixel in the end): a
    discontinuity keeps its step at any refinement, while a crease (a wall corner, an object
    standing on the floor) is continuous and its step vanishes. Pairs whose final step still
    exceeds ``OCCLUSION_TAU / 2`` are occlusions; the nearer pixel is marked.

    ``depth`` is the ``(H, W)`` z-depth, ``rays`` the ``(H, W, 3)`` camera rays with ``z = 1`` and
    ``refine(lo_rays, hi_rays, lo_z, hi_z)`` the z-depths at both ends of each interval after the
    refinements (:func:`taskonomy.world._raycast.refine_steps`).
    """
    h, w = depth.shape
    out = np.zeros((h, w), dtype=bool)
    cuts = np.zeros((h - 1) * w + h * (w - 1), dtype=bool)
    # candidate pairs of both axes: flat pixel indices (a, b) with b the lower / right neighbour
    flat_z = depth.ravel()
    flat_s = surface.ravel()
    idx = np.arange(h * w).reshape(h, w)
    pa = np.concatenate([idx[:-1, :].ravel(), idx[:, :-1].ravel()])
    pb = np.concatenate([idx[1:, :].ravel(), idx[:, 1:].ravel()])
    za, zb = flat_z[pa], flat_z[pb]
    cand = (flat_s[pa] != flat_s[pb]) & (np.abs(za - zb) > OCCLUSION_TAU * np.minimum(za, zb))
    which = np.flatnonzero(cand)
    pa, pb, za, zb = pa[cand], pb[cand], za[cand], zb[cand]
    if len(pa):
        flat_r = rays.reshape(-1, 3)
        lo_z, hi_z = refine(flat_r[pa], flat_r[pb], za, zb)
        jump = np.abs(hi_z - lo_z) > 0.5 * OCCLUSION_TAU * np.minimum(lo_z, hi_z)
        out.ravel()[np.where(za < zb, pa, pb)[jump]] = True
        cuts[which[jump]] = True
    return out, cuts[: (h - 1) * w].reshape(h - 1, w), cuts[(h - 1) * w:].reshape(h, w - 1)


def occlusion_boundary(depth: F64, rays: F64, surface: NDArray[np.int64], refine: Refine) -> NDArray[np.bool_]:
    """Pixels on the near side of a depth discontinuity: the ``boundary`` of :func:`occlusion_cuts`."""
    return occlusion_cuts(depth, rays, surface, refine)[0]


def edge_occlusion_sigma(size: int) -> float:
    """Width (Gaussian sigma, pixels) of the soft occlusion edges at image side ``size``: Taskonomy
    blurs its occlusion edges with sigma 4 at 256 px, i.e. 1/64 of the side; at least 1 pixel."""
    return max(1.0, size / 64.0)


def soften_edges(boundary: NDArray[np.bool_], sigma: float) -> F32:
    """A soft edge map in [0, 1]: ``exp(-d^2 / (2 sigma^2))`` with ``d`` the distance (pixels) to the
    nearest pixel of the 0/1 ``boundary``; 1 on the boundary, 0.61 one ``sigma`` away."""
    if not boundary.any():
        return np.zeros(boundary.shape, dtype=np.float32)
    d = distance_transform_edt(~boundary)
    return np.exp(-(d * d) / (2.0 * sigma * sigma)).astype(np.float32)


def edge_occlusion(boundary: NDArray[np.bool_]) -> F32:
    """Taskonomy's occlusion edges: the depth discontinuities of :func:`occlusion_boundary` as a
    soft map a few pixels wide (:func:`soften_edges` with :func:`edge_occlusion_sigma`), where
    Taskonomy blurs its edge images with a Gaussian of the same width."""
    return soften_edges(boundary, edge_occlusion_sigma(boundary.shape[-1]))


#: Curvature (1/m) that the encoded principal curvature maps to 1 (a radius of 0.2 m): balls and barrels
#: (radius 0.15-0.35 m) span most of the range, thin poles and legs (3-8 cm) saturate, so that they carry
#: about 15% of the squared values over the world's views instead of 40% (at 10/m) or most (unclipped).
CURVATURE_SATURATION = 5.0


def principal_curvature(k: F64) -> F32:
    """The two principal curvatures ``(.., 2)`` in 1/m encoded as the dataset encodes them: zero
    curvature at 0 (127 in the 8-bit files), scaled by :data:`CURVATURE_SATURATION` and clipped
    to [-1, 1], so thin structures cannot dominate a squared loss."""
    return np.clip(np.asarray(k, dtype=np.float64) / CURVATURE_SATURATION, -1.0, 1.0).astype(np.float32)


def curvature_sigma(size: int) -> float:
    """Neighbourhood scale (Gaussian sigma, pixels) of the principal curvature at image side ``size``.

    1.25 px at 32 px, in proportion to the side (as :func:`edge_occlusion_sigma` scales with it),
    so the label is the same surface property at any resolution: at the default 60 degrees of
    field sigma is 41 mrad of view (8 cm at 2 m), so a crease or a box edge becomes a band about
    2 sigma (16 cm at 2 m) to each side, the scale at which curvature is estimated on Taskonomy's
    scanned meshes (a few pixels of their views), while a ball (radius 15-35 cm, 4-8 sigma across
    at 2 m) still reads as a sphere (1/r) in its middle. At least 1 pixel.
    """
    return max(1.0, 1.25 * size / 32.0)


def keypoints3d(depth: F64, normals_hwc: F64, *, focal: float) -> F32:
    """Harris corner response of the geometry, scaled to [0, 1].

    The structure tensor ``M = G_sigma * sum_c grad(f_c) grad(f_c)^T`` sums over the geometric
    channels ``f = (n_x, n_y, n_z, focal * log z / 8)``; the response is ``det M - k tr(M)^2``.
    Corners of boxes, rims of cylinders and object/room junctions respond; flat and uniformly
    curved surfaces do not.
    """
    chans = np.concatenate([normals_hwc, (np.log(depth) * (focal / 8.0))[..., None]], axis=-1)
    gy, gx = np.gradient(chans, axis=(0, 1))
    products = np.stack([(gx * gx).sum(-1), (gx * gy).sum(-1), (gy * gy).sum(-1)], axis=-1)
    return _normalise_response(_harris(products, mode="nearest"), floor=1e-3).astype(np.float32)


def room_axes(r_cam: F64) -> F64:
    """The room's axes ``x, y (up), z`` in the camera frame, as the columns of ``R^T``."""
    return np.asarray(r_cam, dtype=np.float64).T


def horizontal_basis(down: F64) -> tuple[F64, F64]:
    """Two orthonormal horizontal directions in the camera frame: the camera's ``x`` axis projected
    onto the horizontal plane (``h1``, to the right) and ``h2 = h1 x down`` (forward)."""
    h1 = np.array([1.0, 0.0, 0.0]) - down[0] * down
    h1 = h1 / np.linalg.norm(h1)
    return h1, cross3(h1, down)


def vanishing_points(r_cam: F64) -> F32:
    """The three Manhattan vanishing directions, in a form continuous under the room's symmetry.

    ``[down (3), cos 4θ, sin 4θ]``: ``down`` is the vertical vanishing direction (world down in
    the camera frame, unique); ``θ`` is the angle of a horizontal room axis in the horizontal
    plane from ``h1`` towards ``h2`` (:func:`horizontal_basis`). The two horizontal directions
    are the same set under any relabelling or sign flip of the room's axes, which shifts ``θ`` by
    a multiple of 90 degrees, so ``4θ`` names them uniquely and continuously (no axis is picked
    by a rule that switches at 45 degrees). :func:`decode_vanishing_points` gives the directions.
    ``r_cam`` is camera-to-world.
    """
    axes = room_axes(r_cam)
    down = -axes[:, 1]
    h1, h2 = horizontal_basis(down)
    a = axes[:, 0]
    theta = np.arctan2(a @ h2, a @ h1)
    return np.concatenate([down, [np.cos(4 * theta), np.sin(4 * theta)]]).astype(np.float32)


def decode_vanishing_points(vp: F64) -> F64:
    """Rows: the two horizontal Manhattan directions and the downward one, in the camera frame
    (one of the four equivalent labellings), from a :func:`vanishing_points` vector."""
    v = np.asarray(vp, dtype=np.float64)
    down = v[:3] / np.linalg.norm(v[:3])
    h1, h2 = horizontal_basis(down)
    theta = np.arctan2(v[4], v[3]) / 4.0
    a = np.cos(theta) * h1 + np.sin(theta) * h2
    return np.stack([a, down, cross3(a, down)])


_UPPER = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))


def room_layout(r_cam: F64, c_cam: F64, room_centre: F64, half: F64) -> F32:
    """The room box relative to the camera: its centre (3) and its shape tensor (6), camera frame.

    The shape tensor ``S = sum_i h_i e_i e_i^T`` (half extents ``h_i`` along the room axes
    ``e_i``) lists ``S_xx, S_yy, S_zz, S_xy, S_xz, S_yz``. It does not depend on how the room's
    axes are labelled or signed, and it varies continuously with the camera, so the label has no
    jump anywhere; its eigenvectors are the box axes and its eigenvalues the half extents
    (:func:`decode_room_layout`). ``r_cam`` is camera-to-world, ``c_cam`` the camera centre.
    """
    axes = room_axes(r_cam)
    centre = axes @ (np.asarray(room_centre, dtype=np.float64) - np.asarray(c_cam, dtype=np.float64))
    shape = (axes * np.asarray(half, dtype=np.float64)) @ axes.T
    return np.concatenate([centre, [shape[i, j] for i, j in _UPPER]]).astype(np.float32)


def decode_room_layout(layout: F64) -> tuple[F64, F64, F64]:
    """``(centre, half_extents, axes)`` of the box of a :func:`room_layout` vector (camera frame;
    ``axes`` has the box axes as columns)."""
    v = np.asarray(layout, dtype=np.float64)
    shape = np.zeros((3, 3))
    for value, (i, j) in zip(v[3:9], _UPPER, strict=True):
        shape[i, j] = shape[j, i] = value
    extents, axes = np.linalg.eigh(shape)
    return v[:3], extents, axes
