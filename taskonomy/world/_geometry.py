"""Rigid-body and pinhole-camera helpers (pure numpy).

Conventions (used by every label of the world):

* World frame: metres, ``y`` up; the room's floor is ``y = 0``.
* Camera frame (OpenCV): ``x`` right, ``y`` down, ``z`` forward (the optical axis).
* A camera is ``(R, C)``: ``R`` (3x3) has the camera axes as columns in world coordinates
  (camera-to-world rotation) and ``C`` is its centre, so ``X_world = R @ X_cam + C``.
* Pinhole intrinsics for an ``S x S`` image with horizontal field of view ``fov``:
  ``f = (S / 2) / tan(fov / 2)``, principal point ``(S / 2, S / 2)``; pixel ``(i, j)`` (row,
  column) looks through its centre ``(j + 0.5, i + 0.5)``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]


def rotvec_to_matrix(rv: F64) -> F64:
    """Rodrigues' formula: ``R = I + sin(t) K + (1 - cos(t)) K^2`` with ``K = [k]_x``, ``t = |rv|``.

    Written out rather than ``scipy.spatial.transform.Rotation.from_rotvec(rv).as_matrix()``: the
    renderer converts one vector at a time, where this takes about a quarter of scipy's time (the
    two agree to 1e-15; ``tests/unit/world/test_geometry.py``).
    """
    x, y, z = (float(v) for v in rv)
    theta = math.sqrt(x * x + y * y + z * z)
    if theta < 1e-12:
        return np.eye(3)
    x, y, z = x / theta, y / theta, z / theta
    s, c = math.sin(theta), math.cos(theta)
    t = 1.0 - c
    return np.array([[c + t * x * x, t * x * y - s * z, t * x * z + s * y],
                     [t * x * y + s * z, c + t * y * y, t * y * z - s * x],
                     [t * x * z - s * y, t * y * z + s * x, c + t * z * z]])


def matrix_to_rotvec(m: F64) -> F64:
    """Inverse of :func:`rotvec_to_matrix` (angle in [0, pi]), stable near 0 and pi (about 8x faster
    than ``scipy.spatial.transform.Rotation.from_matrix(m).as_rotvec()`` for one matrix).

    With ``w = vee(M - M^T) = 2 sin(t) k``: ``t = atan2(|w| / 2, (tr M - 1) / 2)``; near ``pi`` the
    axis comes from the symmetric part ``(M + I) / 2 ~ k k^T``, signed to agree with ``w``.
    """
    m = np.asarray(m, dtype=np.float64)
    w = np.array([m[2, 1] - m[1, 2], m[0, 2] - m[2, 0], m[1, 0] - m[0, 1]])
    sin_t = np.linalg.norm(w) / 2.0
    cos_t = (np.trace(m) - 1.0) / 2.0
    theta = float(np.arctan2(sin_t, cos_t))
    if theta < 1e-8:
        return w / 2.0
    if np.pi - theta < 1e-3:
        b = (m + m.T) / 4.0 + np.eye(3) * (1.0 - cos_t) / 4.0 - np.eye(3) * (1.0 + cos_t) / 4.0
        i = int(np.argmax(np.diag(b)))
        k = b[:, i] / np.sqrt(max(b[i, i], 1e-300))
        k = k / np.linalg.norm(k)
        if k @ w < 0:
            k = -k
        return k * theta
    return w / (2.0 * sin_t) * theta


def cross3(a: F64, b: F64) -> F64:
    """Cross product of two 3-vectors (``numpy.cross`` costs ~50x more for one pair)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def look_at(centre: F64, target: F64, *, roll: float = 0.0) -> F64:
    """Camera-to-world rotation of a camera at ``centre`` whose optical axis points at ``target``.

    The camera's ``x`` axis is horizontal (then rolled by ``roll`` radians about ``z``) and its
    ``y`` axis points downwards, so an unrolled camera sees the floor at the bottom of the image.
    """
    z = np.asarray(target, dtype=np.float64) - np.asarray(centre, dtype=np.float64)
    z = z / np.linalg.norm(z)
    up = np.array([0.0, 1.0, 0.0])
    x = cross3(z, up)  # x = y x z with y pointing down: a right-handed camera frame
    n = np.linalg.norm(x)
    if n < 1e-6:  # looking straight up or down
        x = np.array([1.0, 0.0, 0.0])
    else:
        x = x / n
    y = cross3(z, x)
    r = np.stack([x, y, z], axis=1)
    if roll:
        r = r @ rotvec_to_matrix(np.array([0.0, 0.0, roll]))
    return r


def yaw_pitch_roll(yaw: float, pitch: float, roll: float) -> F64:
    """Camera-to-world rotation from yaw (about world up), pitch (up positive) and roll (radians)."""
    forward = np.array([np.sin(yaw) * np.cos(pitch), np.sin(pitch), np.cos(yaw) * np.cos(pitch)])
    return look_at(np.zeros(3), forward, roll=roll)


def focal_length(size: int, fov_deg: float) -> float:
    """Focal length in pixels of an ``size``-wide image with horizontal field of view ``fov_deg``."""
    return (size / 2.0) / float(np.tan(np.radians(fov_deg) / 2.0))


def intrinsics(size: int, fov_deg: float) -> F64:
    """The 3x3 pinhole matrix ``K`` (see the module conventions)."""
    f = focal_length(size, fov_deg)
    return np.array([[f, 0.0, size / 2.0], [0.0, f, size / 2.0], [0.0, 0.0, 1.0]])


def pixel_rays(size: int, fov_deg: float) -> F64:
    """Camera-frame ray directions ``(S*S, 3)`` with ``z = 1`` (so ray parameter = z-depth)."""
    f = focal_length(size, fov_deg)
    c = (np.arange(size, dtype=np.float64) + 0.5 - size / 2.0) / f
    v, u = np.meshgrid(c, c, indexing="ij")
    return np.stack([u.ravel(), v.ravel(), np.ones(size * size)], axis=1)


def relative_pose(r_a: F64, c_a: F64, r_b: F64, c_b: F64) -> F64:
    """Pose of camera B relative to camera A, in A's camera frame: rotvec(3) + translation(3).

    With ``R_AB = R_A^T R_B`` and ``t_AB = R_A^T (C_B - C_A)``, a point with B-frame coordinates
    ``X_B`` has A-frame coordinates ``X_A = R_AB X_B + t_AB``.
    """
    r_ab = r_a.T @ r_b
    t_ab = r_a.T @ (c_b - c_a)
    return np.concatenate([matrix_to_rotvec(r_ab), t_ab])


def mul3(a: F64, m: F64) -> F64:
    """``a @ m`` for ``a`` of shape ``(..., 3)`` and ``m`` of shape ``(3, K)``, without BLAS.

    The ray caster multiplies tall arrays by 3-row matrices; multithreaded BLAS spends more
    time synchronising threads on such shapes than computing, so these products are written out.
    """
    return a[..., 0, None] * m[0] + a[..., 1, None] * m[1] + a[..., 2, None] * m[2]


def outer3(u: F64, d: F64) -> F64:
    """``u @ d.T`` for ``u`` of shape ``(P, 3)`` and ``d`` of shape ``(N, 3)``, as ``(P, N)``, without BLAS."""
    return u[:, 0, None] * d[:, 0] + u[:, 1, None] * d[:, 1] + u[:, 2, None] * d[:, 2]
