"""Vectorised analytical ray casting against the room and its primitives.

Every function works on all rays at once: origins ``(N, 3)`` (or one ``(3,)`` shared origin) and
unit directions ``(N, 3)``. Surfaces are numbered: the six room faces (0..5, see
:data:`taskonomy.world._scene.ROOM_FACES`), then the scene's primitives (6..).

Intersections (``t`` is the distance along the unit direction ``d`` from the origin ``o``):

* sphere ``|p - c| = r``: ``t = -b - sqrt(b^2 - (|o - c|^2 - r^2))`` with ``b = d . (o - c)``;
* box (slab method in the box frame, rotated by its yaw about ``y``):
  ``t = max_i min(t1_i, t2_i)`` when it does not exceed ``min_i max(t1_i, t2_i)``;
* vertical cylinder: the quadratic in ``x, z`` for the side (accepted within the height), and
  the two cap planes (accepted within the radius);
* the room, seen from inside: ``t = min_i (h_i^± - o_i) / d_i`` over the three axes.

Principal curvatures (1/m, convex positive, ``k1 >= k2``): sphere ``(1/r, 1/r)``, cylinder side
``(1/r, 0)``, planes ``(0, 0)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from taskonomy.world._geometry import mul3, outer3
from taskonomy.world._scene import N_ROOM_FACES, Scene

F64 = NDArray[np.float64]
EPS = 1e-6


@dataclass
class Hit:
    """Closest intersections of N rays: distance, surface id, world point, normal, curvature, uv."""

    t: F64
    surface: NDArray[np.int64]
    point: F64
    normal: F64
    curvature: F64
    uv: F64


def _yaw_matrix(yaw: float) -> F64:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])  # local -> world


def _sphere_t(o: F64, d: F64, c: F64, r: float) -> F64:
    oc = o - c
    b = np.einsum("ij,ij->i", oc, d) if oc.ndim == 2 else d[:, 0] * oc[0] + d[:, 1] * oc[1] + d[:, 2] * oc[2]
    cc = (oc * oc).sum(-1) - r * r
    disc = b * b - cc
    with np.errstate(invalid="ignore"):
        t = -b - np.sqrt(disc)
    return np.where((disc > 0) & (t > EPS), t, np.inf)


def _box_t(o: F64, d: F64, c: F64, h: F64, yaw: float) -> F64:
    rot = _yaw_matrix(yaw)
    lo = mul3(o - c, rot).T  # world -> local: rot^T (o - c); rows are the local axes
    ld = mul3(d, rot).T
    tmin = np.full(len(d), -np.inf)
    tmax = np.full(len(d), np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        for ax in range(3):
            inv = 1.0 / ld[ax]
            t1 = (-h[ax] - lo[ax]) * inv
            t2 = (h[ax] - lo[ax]) * inv
            np.maximum(tmin, np.minimum(t1, t2), out=tmin)
            np.minimum(tmax, np.maximum(t1, t2), out=tmax)
    return np.where((tmax >= tmin) & (tmin > EPS), tmin, np.inf)


def _cylinder_t(o: F64, d: F64, c: F64, r: float, height: float) -> F64:
    ox = o[..., 0] - c[0]
    oy = o[..., 1]
    oz = o[..., 2] - c[2]
    dx, dy, dz = d[:, 0], d[:, 1], d[:, 2]
    a = dx * dx + dz * dz
    b = ox * dx + oz * dz
    cc = ox * ox + oz * oz - r * r
    disc = b * b - a * cc
    y0, y1 = c[1], c[1] + height
    with np.errstate(divide="ignore", invalid="ignore"):
        ts = (-b - np.sqrt(disc)) / a
        ys = oy + ts * dy
        t_side = np.where((disc > 0) & (ts > EPS) & (ys >= y0) & (ys <= y1), ts, np.inf)
        tcap = np.where(oy > y1, (y1 - oy) / dy, (y0 - oy) / dy)
    xc = ox + tcap * dx
    zc = oz + tcap * dz
    t_cap = np.where((tcap > EPS) & (xc * xc + zc * zc <= r * r) & ((oy > y1) | (oy < y0)), tcap, np.inf)
    return np.minimum(t_side, t_cap)


def _bounds(scene: Scene) -> tuple[F64, F64]:
    """Bounding sphere (centre, radius) of every primitive."""
    if "bound_c" not in scene.packed:
        cs, rs = [], []
        for p in scene.primitives:
            c, sz = np.asarray(p.centre), np.asarray(p.size)
            if p.kind == "sphere":
                cs.append(c)
                rs.append(sz[0])
            elif p.kind == "box":
                cs.append(c)
                rs.append(float(np.linalg.norm(sz)))
            else:
                cs.append(c + np.array([0.0, sz[1] / 2, 0.0]))
                rs.append(float(np.hypot(sz[0], sz[1] / 2)))
        scene.packed["bound_c"] = np.array(cs, dtype=np.float64).reshape(-1, 3)
        scene.packed["bound_r"] = np.array(rs, dtype=np.float64)
    return scene.packed["bound_c"], scene.packed["bound_r"]


def _cone_candidates(bc: F64, br: F64, o: F64, d: F64) -> NDArray[np.bool_]:
    """``(P, N)``: which rays from the one origin ``o`` cross each bounding sphere.

    A ray ``d`` crosses the sphere iff its angle to the centre direction ``u`` is within
    ``asin(r / |c - o|)``, i.e. ``d . u >= sqrt(1 - (r / |c - o|)^2)`` (all rays when inside).
    """
    v = bc - o[None, :]
    dist = np.linalg.norm(v, axis=-1)
    cos_t = np.where(dist > br, np.sqrt(np.clip(1.0 - (br / np.maximum(dist, 1e-12)) ** 2, 0.0, 1.0)), -2.0)
    return outer3(v / np.maximum(dist, 1e-12)[:, None], d) >= cos_t[:, None]


def _objects_t(scene: Scene, o: F64, d: F64) -> tuple[F64, NDArray[np.int64]]:
    """Closest object hit: distance (inf for none) and surface id (-1 for none).

    All rays are first tested against every primitive's bounding sphere at once; the exact test
    runs only on the rays whose bounding sphere they cross. ``o`` is one origin ``(3,)`` (cone
    test) or one per ray ``(N, 3)`` (quadratic test).
    """
    n = len(d)
    best = np.full(n, np.inf)
    sid = np.full(n, -1, dtype=np.int64)
    if not scene.primitives:
        return best, sid
    bc, br = _bounds(scene)
    # (P, N) layout: one contiguous row of every quantity per primitive
    if o.ndim == 1:
        cand = _cone_candidates(bc, br, o, d)
    else:
        d_o = np.einsum("ij,ij->i", d, o)
        b = d_o[None, :] - outer3(bc, d)
        cc = np.einsum("ij,ij->i", o, o)[None, :] - 2.0 * outer3(bc, o) + ((bc * bc).sum(-1) - br * br)[:, None]
        # the far root -b + sqrt(disc) is positive iff b < 0 or the origin is inside (cc < 0)
        cand = (b * b > cc) & ((b < 0) | (cc < 0))
    for k, p in enumerate(scene.primitives):
        rows = np.nonzero(cand[k])[0]
        if len(rows) == 0:
            continue
        ok = o if o.ndim == 1 else o[rows]
        dk = d[rows]
        c = np.asarray(p.centre)
        if p.kind == "sphere":
            t = _sphere_t(ok, dk, c, p.size[0])
        elif p.kind == "box":
            t = _box_t(ok, dk, c, np.asarray(p.size), p.yaw)
        else:
            t = _cylinder_t(ok, dk, c, p.size[0], p.size[1])
        closer = t < best[rows]
        rc = rows[closer]
        best[rc] = t[closer]
        sid[rc] = N_ROOM_FACES + k
    return best, sid


def _room_t(scene: Scene, o: F64, d: F64) -> tuple[F64, NDArray[np.int64]]:
    lo = (-scene.half[0], 0.0, -scene.half[2])
    hi = (scene.half[0], 2 * scene.half[1], scene.half[2])
    t = np.full(len(d), np.inf)
    face = np.zeros(len(d), dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        for ax in range(3):
            da = d[:, ax]
            oa = o[..., ax]
            pos = da > 0
            ta = (np.where(pos, hi[ax], lo[ax]) - oa) / da
            closer = ta < t  # NaN (0 / 0) compares False; negative t cannot occur from inside
            t = np.where(closer, ta, t)
            face = np.where(closer, 2 * ax + pos, face)  # x-: 0, x+: 1, floor: 2, ceiling: 3, z-: 4, z+: 5
    return t, face


def occluded(scene: Scene, o: F64, d: F64, dist: F64) -> NDArray[np.bool_]:
    """Whether an object blocks each ray before ``dist`` (shadow and visibility rays)."""
    t, _ = _objects_t(scene, o, d)
    return t < dist


def closest(scene: Scene, o: F64, d: F64) -> tuple[F64, NDArray[np.int64]]:
    """Distance to and surface id of the closest hit of every ray."""
    t_obj, s_obj = _objects_t(scene, o, d)
    t_room, s_room = _room_t(scene, o, d)
    use_obj = t_obj < t_room
    return np.where(use_obj, t_obj, t_room), np.where(use_obj, s_obj, s_room)


def cast(scene: Scene, o: F64, d: F64) -> Hit:
    """Closest hit of every ray (the closed room guarantees one) with its surface attributes."""
    t, surface = closest(scene, o, d)
    return attributes(scene, o, d, t, surface)


def cast_views(scene: Scene, origins: list[F64], dirs: list[F64]) -> Hit:
    """:func:`cast` for several views at once: one origin ``(3,)`` and ``(N_i, 3)`` rays per view.

    Closest hits are found per view (a shared origin allows the cheap cone culling and the
    shared-origin intersection formulas); attributes are computed once for all rays.
    """
    parts = [closest(scene, o, d) for o, d in zip(origins, dirs, strict=True)]
    d_all = np.concatenate(dirs)
    o_all = np.concatenate([np.broadcast_to(o, d.shape) for o, d in zip(origins, dirs, strict=True)])
    return attributes(scene, o_all, d_all, np.concatenate([p[0] for p in parts]),
                      np.concatenate([p[1] for p in parts]))


def attributes(scene: Scene, o: F64, d: F64, t: F64, surface: NDArray[np.int64]) -> Hit:
    """Hit points, normals, curvatures and texture coordinates of known closest hits."""
    n = len(d)
    s_room = np.where(surface < N_ROOM_FACES, surface, 0)
    use_obj = surface >= N_ROOM_FACES
    point = o + t[:, None] * d
    normal = np.zeros((n, 3))
    curvature = np.zeros((n, 2))
    local = np.array(point)  # texture coordinates come from the point in the surface's frame

    # room faces: inward normals, world coordinates as texture frame
    room = ~use_obj
    axis = s_room // 2
    sign = np.where(s_room % 2 == 1, -1.0, 1.0)  # the + face's inward normal points to -axis
    rows = np.nonzero(room)[0]
    normal[rows, axis[rows]] = sign[rows]
    dom = np.where(room, axis, 0)  # dominant axis of the normal in the texture frame

    for k, p in enumerate(scene.primitives):
        rows = np.nonzero(surface == N_ROOM_FACES + k)[0]
        if len(rows) == 0:
            continue
        c = np.asarray(p.centre)
        pt = point[rows]
        if p.kind == "sphere":
            nn = (pt - c) / p.size[0]
            normal[rows] = nn
            dom[rows] = np.abs(nn).argmax(-1)
            curvature[rows] = 1.0 / p.size[0]
            local[rows] = pt - c
        elif p.kind == "box":
            rot = _yaw_matrix(p.yaw)
            lp = mul3(pt - c, rot)
            rel = np.abs(lp) / np.asarray(p.size)
            ax = rel.argmax(-1)
            lnn = np.zeros_like(lp)
            lnn[np.arange(len(rows)), ax] = np.sign(lp[np.arange(len(rows)), ax])
            normal[rows] = mul3(lnn, rot.T)
            dom[rows] = ax
            local[rows] = lp
        else:
            r, height = p.size[0], p.size[1]
            lp = pt - c
            side_gap = np.abs(np.hypot(lp[:, 0], lp[:, 2]) - r)
            cap_gap = np.minimum(np.abs(lp[:, 1]), np.abs(lp[:, 1] - height))
            on_cap = cap_gap < side_gap
            side = np.stack([lp[:, 0] / r, np.zeros(len(rows)), lp[:, 2] / r], -1)
            cap = np.zeros_like(lp)
            cap[:, 1] = np.where(lp[:, 1] > height / 2, 1.0, -1.0)
            nn = np.where(on_cap[:, None], cap, side)
            normal[rows] = nn
            curvature[rows, 0] = np.where(on_cap, 0.0, 1.0 / r)
            # unroll the side: u = arc length, v = height
            ang = np.arctan2(lp[:, 2], lp[:, 0]) * r
            local[rows] = np.where(on_cap[:, None], lp, np.stack([ang, lp[:, 1], np.zeros(len(rows))], -1))
            dom[rows] = np.where(on_cap, 1, 2)
    # texture uv: the two local coordinates orthogonal to the dominant local normal axis
    u_axis = np.where(dom == 0, 2, 0)
    v_axis = np.where(dom == 1, 2, 1)
    ar = np.arange(n)
    uv = np.stack([local[ar, u_axis], local[ar, v_axis]], -1)
    return Hit(t=t, surface=surface.astype(np.int64), point=point, normal=normal, curvature=curvature, uv=uv)
