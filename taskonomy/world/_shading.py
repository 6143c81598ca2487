"""Procedural textures and Lambertian lighting.

The image is ``rgb = albedo * shading`` exactly (no clipping is needed: both factors lie in
[0, 1]), with

    shading = a + (1 - a) * v * max(0, n . l) * min(1, (r0 / |L - p|)^2),

``a`` the ambient share, ``l`` the unit direction from the surface point ``p`` to the point light
``L``, ``v`` its visibility (0 in an object's shadow) and ``r0 = 3 m``. The ``reshading`` label is
this shading: the geometry's shading with constant (white) albedo under the scene's light.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from taskonomy.world._raycast import Hit, occluded
from taskonomy.world._scene import Scene

F64 = NDArray[np.float64]
LIGHT_R0 = 3.0


def albedo(scene: Scene, hit: Hit) -> F64:
    """Texture colour ``a + (b - a) * pattern(uv * scale)`` of every hit, ``(N, 3)`` in [0, 1]."""
    pk = scene.packed
    s = hit.surface
    scale = pk["mat_scale"][s]
    pat = pk["mat_pattern"][s]
    u = hit.uv[:, 0] * scale
    v = hit.uv[:, 1] * scale
    fu, fv = np.floor(u), np.floor(v)
    stripes = np.mod(fu, 2.0)
    checker = np.mod(fu + fv, 2.0)
    tiles = ((u - fu < 0.08) | (v - fv < 0.08)).astype(np.float64)
    pu = u * 0.25 + 0.5 * fv
    planks = 0.45 * np.mod(fv, 2.0) + 0.55 * (pu - np.floor(pu) < 0.04)
    mix = np.select([pat == 1, pat == 2, pat == 3, pat == 4], [stripes, checker, tiles, planks], 0.0)
    a = pk["mat_a"][s]
    b = pk["mat_b"][s]
    return a + (b - a) * mix[:, None]


def shading(scene: Scene, hit: Hit, *, ambient: float) -> F64:
    """Lambertian shading of every hit under the scene's point light, with cast shadows, in [0, 1]."""
    to_light = np.asarray(scene.light) - hit.point
    dist = np.linalg.norm(to_light, axis=-1)
    l_dir = to_light / dist[:, None]
    ndl = np.clip((hit.normal * l_dir).sum(-1), 0.0, None)
    lit = np.nonzero(ndl > 0)[0]
    if len(lit):
        origin = hit.point[lit] + 1e-4 * hit.normal[lit]
        blocked = occluded(scene, origin, l_dir[lit], dist[lit])
        ndl[lit[blocked]] = 0.0
    falloff = np.minimum(1.0, (LIGHT_R0 / dist) ** 2)
    return ambient + (1.0 - ambient) * ndl * falloff
