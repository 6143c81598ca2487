"""Procedural textures, the image's lighting, and the reshading label.

The image is ``rgb = albedo * shading`` exactly (no clipping is needed: both factors lie in
[0, 1]), with the scene's lighting

    shading = a + (1 - a) * v * max(0, n . l) * min(1, (r0 / |L - p|)^2),

``a`` the ambient share, ``l`` the unit direction from the surface point ``p`` to the scene's
point light ``L`` (on the ceiling), ``v`` its visibility (0 in an object's shadow) and
``r0 = 3 m``.

The ``reshading`` label is Taskonomy's: the shading of the geometry with constant (white)
albedo under one point light of the same strength placed *at the camera centre* ``C``, with
no ambient term,

    reshading = max(0, n . v) * min(1, (r0 / |C - p|)^2),     v = (C - p) / |C - p|,

a function of the normal and the distance only (a light at the camera casts no visible
shadow), so it does not change when the scene's light moves.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

from taskonomy.world._raycast import Hit, _closest_one, _cull, _primitive_t, _surface_at
from taskonomy.world._scene import Scene

F64 = NDArray[np.float64]
LIGHT_R0 = 3.0


@njit(cache=True, inline="always")
def _pattern_mix(code: int, u: float, v: float) -> float:
    """Share of the second colour of pattern ``code`` at texture coordinates ``(u, v)`` (scaled)."""
    if code == 0:  # plain
        return 0.0
    fu, fv = math.floor(u), math.floor(v)
    if code == 1:  # stripes
        return fu - 2.0 * math.floor(fu / 2.0)
    if code == 2:  # checker
        w = fu + fv
        return w - 2.0 * math.floor(w / 2.0)
    if code == 3:  # tiles: grout lines
        return 1.0 if (u - fu < 0.08) or (v - fv < 0.08) else 0.0
    pu = u * 0.25 + 0.5 * fv  # planks: alternating rows, staggered seams
    return 0.45 * (fv - 2.0 * math.floor(fv / 2.0)) + (0.55 if pu - math.floor(pu) < 0.04 else 0.0)


@njit(cache=True, inline="always")
def _colour_one(prims: F64, u_light: F64, cos_light: F64, light: F64, mat: F64, ambient: float, sid: int,
                px: float, py: float, pz: float, nx: float, ny: float, nz: float, tu: float, tv: float
                ) -> tuple[float, float, float]:
    """``albedo * shading`` of one hit (see the module docstring), with a shadow ray from the light."""
    m = mat[sid]  # pattern, scale, colour a (3), colour b (3)
    mix = _pattern_mix(int(m[0]), tu * m[1], tv * m[1])
    lx, ly, lz = light[0] - px, light[1] - py, light[2] - pz
    dist = math.sqrt(lx * lx + ly * ly + lz * lz)
    lx, ly, lz = lx / dist, ly / dist, lz / dist
    ndl = nx * lx + ny * ly + nz * lz
    if ndl > 0.0:
        # shadow ray from the light towards the point: in shadow when an object is hit before it
        # (a point on a convex primitive is hit by its own primitive exactly at it)
        reach = dist * (1.0 - 1e-7) - 1e-6
        for k in range(prims.shape[0]):
            if -(lx * u_light[k, 0] + ly * u_light[k, 1] + lz * u_light[k, 2]) < cos_light[k]:
                continue
            if _primitive_t(light[0], light[1], light[2], -lx, -ly, -lz, prims[k]) < reach:
                ndl = 0.0
                break
    else:
        ndl = 0.0
    shade = ambient + (1.0 - ambient) * ndl * min(1.0, (LIGHT_R0 / dist) ** 2)
    return ((m[2] + (m[5] - m[2]) * mix) * shade, (m[3] + (m[6] - m[3]) * mix) * shade,
            (m[4] + (m[7] - m[4]) * mix) * shade)


@njit(cache=True)
def _hit_colours(prims: F64, light: F64, mat: F64, ambient: float, surface: NDArray[np.int64], point: F64,
                 normal: F64, uv: F64) -> F64:
    u_light, cos_light = _cull(prims, light)
    out = np.empty((surface.shape[0], 3))
    for i in range(surface.shape[0]):
        out[i, 0], out[i, 1], out[i, 2] = _colour_one(
            prims, u_light, cos_light, light, mat, ambient, surface[i], point[i, 0], point[i, 1], point[i, 2],
            normal[i, 0], normal[i, 1], normal[i, 2], uv[i, 0], uv[i, 1])
    return out


@njit(cache=True)
def _camera_colours(prims: F64, half: F64, light: F64, mat: F64, ambient: float, rotation: F64, centre: F64,
                    rays: F64) -> F64:
    """The rendered colour of every camera-frame unit ray ``(N, 3)`` of one camera: cast, surface
    attributes and shading in one pass, without materialising the hits."""
    u_cam, cos_cam = _cull(prims, centre)
    u_light, cos_light = _cull(prims, light)
    ox, oy, oz = centre[0], centre[1], centre[2]
    out = np.empty((rays.shape[0], 3))
    for i in range(rays.shape[0]):
        x, y, z = rays[i, 0], rays[i, 1], rays[i, 2]
        dx = rotation[0, 0] * x + rotation[0, 1] * y + rotation[0, 2] * z
        dy = rotation[1, 0] * x + rotation[1, 1] * y + rotation[1, 2] * z
        dz = rotation[2, 0] * x + rotation[2, 1] * y + rotation[2, 2] * z
        t, sid = _closest_one(prims, u_cam, cos_cam, half, ox, oy, oz, dx, dy, dz)
        px, py, pz = ox + t * dx, oy + t * dy, oz + t * dz
        nx, ny, nz, _, _, tu, tv = _surface_at(prims, sid, px, py, pz)
        out[i, 0], out[i, 1], out[i, 2] = _colour_one(prims, u_light, cos_light, light, mat, ambient, sid,
                                                      px, py, pz, nx, ny, nz, tu, tv)
    return out


def image_colour(scene: Scene, hit: Hit, *, ambient: float) -> F64:
    """The rendered colour ``albedo * shading`` of every hit, ``(N, 3)`` in [0, 1]: textures
    ``a + (b - a) * pattern(uv * scale)`` lit by the scene's light with cast shadows."""
    pk = scene.packed
    return _hit_colours(pk["prims"], pk["light"], pk["materials"], float(ambient), hit.surface, hit.point,
                        hit.normal, hit.uv)


def camera_colour(scene: Scene, rotation: F64, centre: F64, rays: F64, *, ambient: float) -> F64:
    """The rendered colour of a camera's unit rays ``(N, 3)`` given in its own frame (``rotation``
    camera-to-world): :func:`image_colour` of their hits, computed without keeping the hits."""
    pk = scene.packed
    return _camera_colours(pk["prims"], pk["half"], pk["light"], pk["materials"], float(ambient),
                           np.ascontiguousarray(rotation, dtype=np.float64), np.asarray(centre, dtype=np.float64),
                           np.ascontiguousarray(rays, dtype=np.float64))


def reshading(hit: Hit, camera_centre: F64) -> F64:
    """Taskonomy's reshading of the hits of one camera: Lambertian shading under a point light at
    the camera centre (constant albedo, no ambient), in [0, 1]; see the module docstring."""
    to_cam = np.asarray(camera_centre, dtype=np.float64) - hit.point
    dist = np.sqrt(np.einsum("ij,ij->i", to_cam, to_cam))
    cos = np.clip(np.einsum("ij,ij->i", hit.normal, to_cam) / dist, 0.0, 1.0)
    return cos * np.minimum(1.0, (LIGHT_R0 / dist) ** 2)
