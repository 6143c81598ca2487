"""Ground-truth maps computed from a rendered view.

Image-based labels use scikit-image (Sobel for Canny's gradient stage, Harris, Felzenszwalb) on
the rendered rgb; the geometric ones use the exact per-pixel geometry (camera-frame points and normals).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import gaussian_filter

from taskonomy.world._geometry import cross3, matrix_to_rotvec

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]

#: Relative depth error above which two neighbouring pixels are not on one continuous surface.
OCCLUSION_TAU = 0.05
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
    """Harris corner response ``det(M) - k tr(M)^2`` (sigma 1), clipped at 0, scaled to [0, 1]."""
    from skimage.feature import corner_harris

    return _normalise_response(corner_harris(gray, method="k", k=HARRIS_K, sigma=1.0), floor=1e-4).astype(np.float32)


def segment_unsup2d(rgb_hwc: F64) -> NDArray[np.int64]:
    """Felzenszwalb-Huttenlocher graph segmentation of the rgb image (segment ids)."""
    from skimage.segmentation import felzenszwalb

    return felzenszwalb(rgb_hwc, scale=60.0, sigma=0.5, min_size=20).astype(np.int64)


def segment_unsup25d(rgb_hwc: F64, points_hwc: F64, normal_hwc: F64) -> NDArray[np.int64]:
    """Felzenszwalb segmentation of rgb, normals and tangent-plane offsets stacked (2.5D features).

    The offset ``n . X`` (camera-frame point ``X``, normal ``n``) is constant over a plane and
    jumps at occlusions, so planar surfaces are not cut into strips the way raw depth ramps are.
    """
    import warnings

    from skimage.segmentation import felzenszwalb

    offset = (points_hwc * normal_hwc).sum(-1, keepdims=True)
    feats = np.concatenate([0.5 * rgb_hwc, normal_hwc, 0.3 * offset], axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 7 channels: intended
        return felzenszwalb(feats, scale=60.0, sigma=0.5, min_size=20, channel_axis=-1).astype(np.int64)


def edge_occlusion(depth: F64, rays: F64, surface: NDArray[np.int64],
                   depth_along: Callable[[F64], F64], *, levels: int = 4) -> F32:
    """Occlusion edges: pixels on the near side of a depth discontinuity, as a 0/1 map.

    Candidates are 4-neighbours ``p, q`` on different surfaces whose z-depths differ by more than
    :data:`OCCLUSION_TAU` relatively. The segment between their rays is then refined ``levels``
    times (each time cast 3 rays inside the current interval and keep the sub-interval with the
    largest relative depth step, ``4^-levels`` pixel in the end): a discontinuity keeps its step
    at any refinement, while a crease (a wall corner, an object standing on the floor) is
    continuous and its step vanishes. Pairs whose final step still exceeds ``OCCLUSION_TAU / 2``
    are occlusions; the nearer pixel is marked.

    ``depth`` is the ``(H, W)`` z-depth, ``rays`` the ``(H, W, 3)`` camera rays with ``z = 1`` and
    ``depth_along(r)`` the exact z-depth seen along camera rays ``r`` of shape ``(M, 3)``.
    """
    h, w = depth.shape
    out = np.zeros((h, w), dtype=bool)
    # candidate pairs of both axes: flat pixel indices (a, b) with b the right / lower neighbour
    flat_z = depth.ravel()
    flat_s = surface.ravel()
    idx = np.arange(h * w).reshape(h, w)
    pa = np.concatenate([idx[:-1, :].ravel(), idx[:, :-1].ravel()])
    pb = np.concatenate([idx[1:, :].ravel(), idx[:, 1:].ravel()])
    za, zb = flat_z[pa], flat_z[pb]
    cand = (flat_s[pa] != flat_s[pb]) & (np.abs(za - zb) > OCCLUSION_TAU * np.minimum(za, zb))
    pa, pb, za, zb = pa[cand], pb[cand], za[cand], zb[cand]
    m = len(pa)
    if m == 0:
        return out.astype(np.float32)
    flat_r = rays.reshape(-1, 3)
    lo_r, hi_r, lo_z, hi_z = flat_r[pa], flat_r[pb], za, zb
    ar = np.arange(m)
    fr = np.array([0.0, 0.25, 0.5, 0.75, 1.0])[None, :, None]
    for _ in range(levels):
        rs = lo_r[:, None, :] + fr * (hi_r - lo_r)[:, None, :]
        zm = depth_along(rs[:, 1:4].reshape(-1, 3)).reshape(m, 3)
        zs = np.concatenate([lo_z[:, None], zm, hi_z[:, None]], axis=1)
        steps = np.abs(np.diff(zs, axis=1)) / np.minimum(zs[:, :-1], zs[:, 1:])
        k = steps.argmax(1)
        lo_r, hi_r, lo_z, hi_z = rs[ar, k], rs[ar, k + 1], zs[ar, k], zs[ar, k + 1]
    jump = np.abs(hi_z - lo_z) > 0.5 * OCCLUSION_TAU * np.minimum(lo_z, hi_z)
    flat_out = out.ravel()
    flat_out[np.where(za < zb, pa, pb)[jump]] = True
    return out.astype(np.float32)


def keypoints3d(depth: F64, normals_hwc: F64, *, focal: float) -> F32:
    """Harris corner response of the geometry, scaled to [0, 1].

    The structure tensor ``M = G_sigma * sum_c grad(f_c) grad(f_c)^T`` sums over the geometric
    channels ``f = (n_x, n_y, n_z, focal * log z / 8)``; the response is ``det M - k tr(M)^2``.
    Corners of boxes, rims of cylinders and object/room junctions respond; flat and uniformly
    curved surfaces do not.
    """
    chans = [normals_hwc[..., 0], normals_hwc[..., 1], normals_hwc[..., 2], np.log(depth) * (focal / 8.0)]
    sxx = np.zeros_like(depth)
    syy = np.zeros_like(depth)
    sxy = np.zeros_like(depth)
    for f in chans:
        gy, gx = np.gradient(f)
        sxx += gx * gx
        syy += gy * gy
        sxy += gx * gy
    sxx, syy, sxy = (gaussian_filter(a, 1.0, mode="nearest") for a in (sxx, syy, sxy))
    resp = sxx * syy - sxy * sxy - HARRIS_K * (sxx + syy) ** 2
    return _normalise_response(resp, floor=1e-3).astype(np.float32)


def manhattan_frame(r_cam: F64) -> F64:
    """The room's axes in the camera frame, as columns ``(e_x, e_y, e_z)``, by a fixed convention.

    ``e_y`` is the world's down direction (the camera's ``y`` points down too); ``e_z`` is the
    horizontal room axis most aligned with the optical axis, signed to point away from the camera
    (positive ``z``); ``e_x = e_y x e_z``. The frame is right-handed and invariant to the room
    box's symmetries, so the label is a function of the view. ``r_cam`` is camera-to-world.
    """
    world_to_cam = r_cam.T
    down = world_to_cam @ np.array([0.0, -1.0, 0.0])
    ax = world_to_cam @ np.array([1.0, 0.0, 0.0])
    az = world_to_cam @ np.array([0.0, 0.0, 1.0])
    e_z = ax if abs(ax[2]) > abs(az[2]) else az
    e_z = e_z if e_z[2] >= 0 else -e_z
    e_x = cross3(down, e_z)
    return np.stack([e_x, down, e_z], axis=1)


def room_layout(r_cam: F64, c_cam: F64, room_centre: F64, half: F64) -> F32:
    """Room box in the camera frame: centre (3), half extents along the Manhattan frame (3), rotvec (3).

    The half extents are listed along ``e_x, e_y, e_z`` of :func:`manhattan_frame`, and the
    rotation vector is that frame's (columns = box axes in camera coordinates).
    """
    frame = manhattan_frame(r_cam)
    centre = r_cam.T @ (room_centre - c_cam)
    axes_world = r_cam @ frame  # columns: the box axes in world coordinates (each a +-unit axis)
    extents = np.abs(axes_world.T) @ half
    return np.concatenate([centre, extents, matrix_to_rotvec(frame)]).astype(np.float32)


def vanishing_points(r_cam: F64) -> F32:
    """The three Manhattan directions (rows ``e_x, e_y, e_z`` of :func:`manhattan_frame`), flattened."""
    return manhattan_frame(r_cam).T.reshape(-1).astype(np.float32)
