"""Analytical ray casting against the room and its primitives (compiled with numba).

Rays share one origin ``o`` (a camera centre, the light, or a point whose visibility is tested)
and have unit directions ``d`` of shape ``(N, 3)``. Surfaces are numbered: the six room faces
(0..5, see :data:`taskonomy.world._scene.ROOM_FACES`), then the scene's primitives (6..).

Intersections (``t`` is the distance along ``d`` from ``o``):

* sphere ``|p - c| = r``: ``t = -b - sqrt(b^2 - (|o - c|^2 - r^2))`` with ``b = d . (o - c)``;
* box (slab method in the box frame, rotated by its yaw about ``y``):
  ``t = max_i min(t1_i, t2_i)`` when it does not exceed ``min_i max(t1_i, t2_i)``; an axis the
  ray is parallel to (``d_i = 0`` exactly) constrains nothing when the origin lies within its
  slab and excludes the box otherwise;
* vertical cylinder: the quadratic in ``x, z`` for the side (accepted within the height), and
  the two cap planes (accepted within the radius); a vertical ray has no side hit, a
  horizontal one no cap hit;
* the room, seen from inside: ``t = min_i (h_i^± - o_i) / d_i`` over the axes with ``d_i != 0``.

Every primitive is first culled by its bounding sphere: a ray from the shared origin can hit it
only if its angle to the sphere's centre is within ``asin(r / |c - o|)``.

The hits' exact principal curvatures (1/m, convex positive, ``k1 >= k2``): sphere ``(1/r, 1/r)``,
cylinder side ``(1/r, 0)``, planes ``(0, 0)``. The ``principal_curvature`` label is not these
point values but their estimate at a neighbourhood scale (:mod:`taskonomy.world._curvature`),
which also bends at creases and edges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from taskonomy.world._scene import N_ROOM_FACES, Scene

F64 = NDArray[np.float64]
EPS = 1e-6

# columns of the packed primitive table (Scene.packed["prims"])
KIND, CX, CY, CZ, SX, SY, SZ, COS_YAW, SIN_YAW, BX, BY, BZ, BR = range(13)
SPHERE, BOX, CYLINDER = 0, 1, 2


@dataclass
class Hit:
    """Closest intersections of N rays: distance, surface id, world point, normal, curvature, uv."""

    t: F64
    surface: NDArray[np.int64]
    point: F64
    normal: F64
    curvature: F64
    uv: F64


@njit(cache=True, inline="always")
def _sphere_t(ox: float, oy: float, oz: float, dx: float, dy: float, dz: float, p: F64) -> float:
    ocx, ocy, ocz = ox - p[CX], oy - p[CY], oz - p[CZ]
    b = dx * ocx + dy * ocy + dz * ocz
    disc = b * b - (ocx * ocx + ocy * ocy + ocz * ocz - p[SX] * p[SX])
    if disc <= 0.0:
        return math.inf
    t = -b - math.sqrt(disc)
    return t if t > EPS else math.inf


@njit(cache=True, inline="always")
def _slab(lo_o: float, ld: float, h: float, tmin: float, tmax: float) -> tuple[float, float, bool]:
    """Narrow ``[tmin, tmax]`` by the slab ``|x| <= h`` of one box axis; False when it is missed."""
    if ld == 0.0:
        return tmin, tmax, -h <= lo_o <= h
    t1 = (-h - lo_o) / ld
    t2 = (h - lo_o) / ld
    if t1 > t2:
        t1, t2 = t2, t1
    return max(tmin, t1), min(tmax, t2), True


@njit(cache=True, inline="always")
def _box_t(ox: float, oy: float, oz: float, dx: float, dy: float, dz: float, p: F64) -> float:
    c, s = p[COS_YAW], p[SIN_YAW]
    rx, ry, rz = ox - p[CX], oy - p[CY], oz - p[CZ]
    # world -> box frame: R^T v with R the yaw rotation (local -> world)
    lox, loy, loz = c * rx - s * rz, ry, s * rx + c * rz
    ldx, ldy, ldz = c * dx - s * dz, dy, s * dx + c * dz
    tmin, tmax = -math.inf, math.inf
    tmin, tmax, ok = _slab(lox, ldx, p[SX], tmin, tmax)
    if not ok:
        return math.inf
    tmin, tmax, ok = _slab(loy, ldy, p[SY], tmin, tmax)
    if not ok:
        return math.inf
    tmin, tmax, ok = _slab(loz, ldz, p[SZ], tmin, tmax)
    if not ok or tmax < tmin or tmin <= EPS:
        return math.inf
    return tmin


@njit(cache=True, inline="always")
def _cylinder_t(ox: float, oy: float, oz: float, dx: float, dy: float, dz: float, p: F64) -> float:
    r, y0 = p[SX], p[CY]
    y1 = y0 + p[SY]
    lx, lz = ox - p[CX], oz - p[CZ]
    best = math.inf
    a = dx * dx + dz * dz
    if a > 0.0:
        b = lx * dx + lz * dz
        disc = b * b - a * (lx * lx + lz * lz - r * r)
        if disc > 0.0:
            ts = (-b - math.sqrt(disc)) / a
            ys = oy + ts * dy
            if ts > EPS and y0 <= ys <= y1:
                best = ts
    if dy != 0.0 and (oy > y1 or oy < y0):
        tc = ((y1 if oy > y1 else y0) - oy) / dy
        if EPS < tc < best:
            xc, zc = lx + tc * dx, lz + tc * dz
            if xc * xc + zc * zc <= r * r:
                best = tc
    return best


@njit(cache=True, inline="always")
def _primitive_t(ox: float, oy: float, oz: float, dx: float, dy: float, dz: float, p: F64) -> float:
    kind = int(p[KIND])
    if kind == SPHERE:
        return _sphere_t(ox, oy, oz, dx, dy, dz, p)
    if kind == BOX:
        return _box_t(ox, oy, oz, dx, dy, dz, p)
    return _cylinder_t(ox, oy, oz, dx, dy, dz, p)


@njit(cache=True)
def _cull(prims: F64, o: F64) -> tuple[F64, F64]:
    """Per primitive: unit direction to its bounding sphere's centre and the cosine of the cone
    of rays from ``o`` that can hit it (-2: every ray, the origin is inside the sphere)."""
    n = prims.shape[0]
    u = np.empty((n, 3))
    cos_t = np.empty(n)
    for k in range(n):
        vx, vy, vz = prims[k, BX] - o[0], prims[k, BY] - o[1], prims[k, BZ] - o[2]
        dist = math.sqrt(vx * vx + vy * vy + vz * vz)
        r = prims[k, BR]
        if dist <= r:
            u[k, 0] = u[k, 1] = u[k, 2] = 0.0
            cos_t[k] = -2.0
        else:
            u[k, 0], u[k, 1], u[k, 2] = vx / dist, vy / dist, vz / dist
            cos_t[k] = math.sqrt(max(0.0, 1.0 - (r / dist) ** 2))
    return u, cos_t


@njit(cache=True, inline="always")
def _room_one(half: F64, ox: float, oy: float, oz: float, dx: float, dy: float, dz: float) -> tuple[float, int]:
    """Distance to the room's walls seen from inside, and the face id (x-: 0, x+: 1, floor: 2,
    ceiling: 3, z-: 4, z+: 5); axes a ray is parallel to are skipped."""
    best = math.inf
    face = 0
    o = (ox, oy, oz)
    d = (dx, dy, dz)
    lo = (-half[0], 0.0, -half[2])
    hi = (half[0], 2.0 * half[1], half[2])
    for ax in range(3):
        da = d[ax]
        if da > 0.0:
            ta = (hi[ax] - o[ax]) / da
            if ta < best:
                best, face = ta, 2 * ax + 1
        elif da < 0.0:
            ta = (lo[ax] - o[ax]) / da
            if ta < best:
                best, face = ta, 2 * ax
    return best, face


@njit(cache=True, inline="always")
def _closest_one(prims: F64, u: F64, cos_t: F64, half: F64, ox: float, oy: float, oz: float,
                 dx: float, dy: float, dz: float) -> tuple[float, int]:
    """The closest hit (distance, surface id) of one ray from the origin ``_cull`` was given."""
    t, sid = _room_one(half, ox, oy, oz, dx, dy, dz)
    for k in range(prims.shape[0]):
        if dx * u[k, 0] + dy * u[k, 1] + dz * u[k, 2] < cos_t[k]:
            continue
        tk = _primitive_t(ox, oy, oz, dx, dy, dz, prims[k])
        if tk < t:
            t, sid = tk, N_ROOM_FACES + k
    return t, sid


@njit(cache=True)
def _closest_rays(prims: F64, half: F64, o: F64, d: F64) -> tuple[F64, NDArray[np.int64]]:
    u, cos_t = _cull(prims, o)
    n = d.shape[0]
    t = np.empty(n)
    s = np.empty(n, dtype=np.int64)
    for i in range(n):
        t[i], s[i] = _closest_one(prims, u, cos_t, half, o[0], o[1], o[2], d[i, 0], d[i, 1], d[i, 2])
    return t, s


@njit(cache=True)
def _objects_blocked(prims: F64, o: F64, d: F64, dist: F64) -> NDArray[np.bool_]:
    """Whether a primitive is hit before ``dist`` along each ray (any hit; shadow / visibility)."""
    u, cos_t = _cull(prims, o)
    out = np.zeros(d.shape[0], dtype=np.bool_)
    ox, oy, oz = o[0], o[1], o[2]
    for k in range(prims.shape[0]):
        p = prims[k]
        ux, uy, uz, ck = u[k, 0], u[k, 1], u[k, 2], cos_t[k]
        for i in range(d.shape[0]):
            if out[i]:
                continue
            dx, dy, dz = d[i, 0], d[i, 1], d[i, 2]
            if dx * ux + dy * uy + dz * uz < ck:
                continue
            if _primitive_t(ox, oy, oz, dx, dy, dz, p) < dist[i]:
                out[i] = True
    return out


@njit(cache=True)
def _segments_blocked(prims: F64, starts: F64, ends: F64, gap: float) -> NDArray[np.bool_]:
    """Whether a primitive is hit on the segment from each start to its end (``gap`` short of it)."""
    out = np.zeros(starts.shape[0], dtype=np.bool_)
    for i in range(starts.shape[0]):
        ox, oy, oz = starts[i, 0], starts[i, 1], starts[i, 2]
        dx, dy, dz = ends[i, 0] - ox, ends[i, 1] - oy, ends[i, 2] - oz
        dist = math.sqrt(dx * dx + dy * dy + dz * dz)
        if dist == 0.0:
            continue
        dx, dy, dz = dx / dist, dy / dist, dz / dist
        for k in range(prims.shape[0]):
            # bounding sphere: skip primitives the segment's line passes further from than their radius
            vx, vy, vz = prims[k, BX] - ox, prims[k, BY] - oy, prims[k, BZ] - oz
            along = vx * dx + vy * dy + vz * dz
            if vx * vx + vy * vy + vz * vz - along * along > prims[k, BR] * prims[k, BR]:
                continue
            if _primitive_t(ox, oy, oz, dx, dy, dz, prims[k]) < dist - gap:
                out[i] = True
                break
    return out


def segments_blocked(scene: Scene, starts: F64, ends: F64, *, gap: float = 1e-3) -> NDArray[np.bool_]:
    """Whether an object blocks the segment from each of ``starts`` ``(M, 3)`` to the matching
    ``ends`` (stopping ``gap`` metres short of the end, so a surface point is not its own blocker)."""
    starts, ends = (np.array(a, dtype=np.float64) for a in np.broadcast_arrays(starts, ends))  # own, writable
    return _segments_blocked(scene.packed["prims"], starts, ends, float(gap))


@njit(cache=True)
def _refine_steps(prims: F64, half: F64, o: F64, rot: F64, lo_r: F64, hi_r: F64, lo_z: F64, hi_z: F64,
                  levels: int) -> tuple[F64, F64]:
    """Narrow each camera-ray interval ``[lo_r, hi_r]`` (z = 1 rays, z-depths ``lo_z, hi_z``) ``levels``
    times to the quarter with the largest relative z-depth step (3 rays cast inside per level)."""
    u, cos_t = _cull(prims, o)
    lo_z, hi_z = lo_z.copy(), hi_z.copy()
    lo, hi = lo_r.copy(), hi_r.copy()
    zs = np.empty(5)
    for i in range(lo.shape[0]):
        for _ in range(levels):
            zs[0], zs[4] = lo_z[i], hi_z[i]
            for j in range(1, 4):
                f = 0.25 * j
                x = lo[i, 0] + f * (hi[i, 0] - lo[i, 0])
                y = lo[i, 1] + f * (hi[i, 1] - lo[i, 1])
                z = lo[i, 2] + f * (hi[i, 2] - lo[i, 2])
                nrm = math.sqrt(x * x + y * y + z * z)
                x, y, z = x / nrm, y / nrm, z / nrm
                dx = rot[0, 0] * x + rot[0, 1] * y + rot[0, 2] * z
                dy = rot[1, 0] * x + rot[1, 1] * y + rot[1, 2] * z
                dz = rot[2, 0] * x + rot[2, 1] * y + rot[2, 2] * z
                t, _ = _closest_one(prims, u, cos_t, half, o[0], o[1], o[2], dx, dy, dz)
                zs[j] = t / nrm
            best, k = -1.0, 0
            for j in range(4):
                step = abs(zs[j + 1] - zs[j]) / min(zs[j], zs[j + 1])
                if step > best:
                    best, k = step, j
            a, b = 0.25 * k, 0.25 * (k + 1)
            for c in range(3):
                lo_c, hi_c = lo[i, c], hi[i, c]
                lo[i, c], hi[i, c] = lo_c + a * (hi_c - lo_c), lo_c + b * (hi_c - lo_c)
            lo_z[i], hi_z[i] = zs[k], zs[k + 1]
    return lo_z, hi_z


def refine_steps(scene: Scene, rotation: F64, centre: F64, lo_r: F64, hi_r: F64, lo_z: F64, hi_z: F64, *,
                 levels: int) -> tuple[F64, F64]:
    """:func:`_refine_steps` for a camera (``rotation`` camera-to-world, ``centre``): the z-depths at both
    ends of each interval after ``levels`` refinements (see :func:`taskonomy.world._labels.occlusion_boundary`)."""
    f = np.ascontiguousarray
    return _refine_steps(scene.packed["prims"], scene.packed["half"], _origin(centre), f(rotation, dtype=np.float64),
                         f(lo_r, dtype=np.float64), f(hi_r, dtype=np.float64), f(lo_z, dtype=np.float64),
                         f(hi_z, dtype=np.float64), int(levels))


def _origin(o: F64) -> F64:
    o = np.asarray(o, dtype=np.float64)
    if o.shape != (3,):
        raise ValueError(f"rays share one origin of shape (3,), got {o.shape}")
    return o


def closest(scene: Scene, o: F64, d: F64) -> tuple[F64, NDArray[np.int64]]:
    """Distance to and surface id of the closest hit of every ray from the shared origin ``o``."""
    d = np.ascontiguousarray(d, dtype=np.float64)
    return _closest_rays(scene.packed["prims"], scene.packed["half"], _origin(o), d)


def occluded(scene: Scene, o: F64, d: F64, dist: F64) -> NDArray[np.bool_]:
    """Whether an object blocks each ray from the shared origin ``o`` before ``dist``."""
    d = np.ascontiguousarray(d, dtype=np.float64)
    return _objects_blocked(scene.packed["prims"], _origin(o), d, np.ascontiguousarray(dist, dtype=np.float64))


@njit(cache=True, inline="always")
def _surface_at(prims: F64, sid: int, px: float, py: float, pz: float
                ) -> tuple[float, float, float, float, float, float, float]:
    """Normal (3), principal curvatures (2) and texture coordinates (2) of surface ``sid`` at a point.

    Texture coordinates are the two coordinates of the point in the surface's own frame that
    are orthogonal to the dominant axis of its local normal (room faces: world coordinates; a
    cylinder's side is unrolled to (arc length, height)).
    """
    nx = ny = nz = 0.0
    k1 = k2 = 0.0
    lx, ly, lz = px, py, pz  # the point in the surface's texture frame
    dom = 0
    if sid < N_ROOM_FACES:
        ax = sid // 2
        sign = -1.0 if sid % 2 == 1 else 1.0  # the + face's inward normal points to -axis
        if ax == 0:
            nx = sign
        elif ax == 1:
            ny = sign
        else:
            nz = sign
        dom = ax
    else:
        p = prims[sid - N_ROOM_FACES]
        kind = int(p[KIND])
        rx, ry, rz = px - p[CX], py - p[CY], pz - p[CZ]
        if kind == SPHERE:
            r = p[SX]
            nx, ny, nz = rx / r, ry / r, rz / r
            k1 = k2 = 1.0 / r
            lx, ly, lz = rx, ry, rz
            best = abs(nx)
            if abs(ny) > best:
                dom, best = 1, abs(ny)
            if abs(nz) > best:
                dom = 2
        elif kind == BOX:
            c, s = p[COS_YAW], p[SIN_YAW]
            lx, ly, lz = c * rx - s * rz, ry, s * rx + c * rz
            qx, qy, qz = abs(lx) / p[SX], abs(ly) / p[SY], abs(lz) / p[SZ]
            best = qx
            if qy > best:
                dom, best = 1, qy
            if qz > best:
                dom = 2
            mx = my = mz = 0.0
            if dom == 0:
                mx = 1.0 if lx > 0 else (-1.0 if lx < 0 else 0.0)
            elif dom == 1:
                my = 1.0 if ly > 0 else (-1.0 if ly < 0 else 0.0)
            else:
                mz = 1.0 if lz > 0 else (-1.0 if lz < 0 else 0.0)
            nx, ny, nz = c * mx + s * mz, my, -s * mx + c * mz  # box frame -> world: R m
        else:
            r, height = p[SX], p[SY]
            side_gap = abs(math.sqrt(rx * rx + rz * rz) - r)
            cap_gap = min(abs(ry), abs(ry - height))
            if cap_gap < side_gap:
                ny = 1.0 if ry > height / 2 else -1.0
                lx, ly, lz = rx, ry, rz
                dom = 1
            else:
                nx, nz = rx / r, rz / r
                k1 = 1.0 / r
                lx, ly, lz = math.atan2(rz, rx) * r, ry, 0.0  # unrolled side: arc length, height
                dom = 2
    u = lz if dom == 0 else lx
    v = lz if dom == 1 else ly
    return nx, ny, nz, k1, k2, u, v


@njit(cache=True)
def _attributes(prims: F64, o: F64, d: F64, t: F64, surface: NDArray[np.int64],
                point: F64, normal: F64, curvature: F64, uv: F64) -> None:
    """Hit points, normals, curvatures and texture coordinates of known closest hits (in place)."""
    for i in range(d.shape[0]):
        px, py, pz = o[0] + t[i] * d[i, 0], o[1] + t[i] * d[i, 1], o[2] + t[i] * d[i, 2]
        point[i, 0], point[i, 1], point[i, 2] = px, py, pz
        (normal[i, 0], normal[i, 1], normal[i, 2], curvature[i, 0], curvature[i, 1],
         uv[i, 0], uv[i, 1]) = _surface_at(prims, surface[i], px, py, pz)


def attributes(scene: Scene, o: F64, d: F64, t: F64, surface: NDArray[np.int64]) -> Hit:
    """Hit points, normals, curvatures and texture coordinates of known closest hits."""
    n = len(d)
    point, normal, uv = np.empty((n, 3)), np.empty((n, 3)), np.empty((n, 2))
    curvature = np.empty((n, 2))
    surface = np.ascontiguousarray(surface, dtype=np.int64)
    _attributes(scene.packed["prims"], _origin(o), np.ascontiguousarray(d, dtype=np.float64),
                np.ascontiguousarray(t, dtype=np.float64), surface, point, normal, curvature, uv)
    return Hit(t=np.asarray(t, dtype=np.float64), surface=surface, point=point, normal=normal,
               curvature=curvature, uv=uv)


@njit(cache=True)
def _rotate(rays: F64, r: F64) -> F64:
    """World directions ``R @ ray`` of camera-frame rays ``(N, 3)`` (``R`` camera-to-world)."""
    out = np.empty_like(rays)
    for i in range(rays.shape[0]):
        x, y, z = rays[i, 0], rays[i, 1], rays[i, 2]
        for j in range(3):
            out[i, j] = r[j, 0] * x + r[j, 1] * y + r[j, 2] * z
    return out


def cast_camera(scene: Scene, rotation: F64, centre: F64, rays: F64) -> Hit:
    """:func:`cast` of a camera's unit rays ``(N, 3)`` given in its own frame (``rotation`` is
    camera-to-world, ``centre`` the origin); the hit ``t`` is the distance along each ray."""
    d = _rotate(np.ascontiguousarray(rays, dtype=np.float64), np.ascontiguousarray(rotation, dtype=np.float64))
    return cast(scene, centre, d)


def cast(scene: Scene, o: F64, d: F64) -> Hit:
    """Closest hit of every ray (the closed room guarantees one) with its surface attributes."""
    t, surface = closest(scene, o, d)
    return attributes(scene, o, d, t, surface)
