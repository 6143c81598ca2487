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

from taskonomy.world._raycast import Hit
from taskonomy.world._raycast import _objects_t as objects_t
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
    mix = np.zeros(len(s))
    for code in np.unique(pk["mat_pattern"]).astype(int).tolist():  # the scene's few patterns
        if code == 0:
            continue
        rows = np.nonzero(pat == code)[0]
        if len(rows) == 0:
            continue
        ur, vr, fur, fvr = u[rows], v[rows], fu[rows], fv[rows]
        if code == 1:  # stripes
            mix[rows] = np.mod(fur, 2.0)
        elif code == 2:  # checker
            mix[rows] = np.mod(fur + fvr, 2.0)
        elif code == 3:  # tiles: grout lines
            mix[rows] = (ur - fur < 0.08) | (vr - fvr < 0.08)
        else:  # planks: alternating rows, staggered seams
            pu = ur * 0.25 + 0.5 * fvr
            mix[rows] = 0.45 * np.mod(fvr, 2.0) + 0.55 * (pu - np.floor(pu) < 0.04)
    a = pk["mat_a"][s]
    b = pk["mat_b"][s]
    return a + (b - a) * mix[:, None]


def shading(scene: Scene, hit: Hit, *, ambient: float) -> F64:
    """Lambertian shading of every hit under the scene's point light, with cast shadows, in [0, 1]."""
    to_light = np.asarray(scene.light) - hit.point
    dist = np.sqrt(np.einsum("ij,ij->i", to_light, to_light))
    l_dir = to_light / dist[:, None]
    ndl = np.clip(np.einsum("ij,ij->i", hit.normal, l_dir), 0.0, None)
    lit = np.nonzero(ndl > 0)[0]
    if len(lit):
        # shadow rays are cast from the light (one shared origin) towards the lit points: a point
        # is in shadow when an object is hit before it (its own convex primitive is hit at it)
        t_block, _ = objects_t(scene, np.asarray(scene.light, dtype=np.float64), -l_dir[lit])
        blocked = t_block < dist[lit] * (1.0 - 1e-7) - 1e-6
        ndl[lit[blocked]] = 0.0
    falloff = np.minimum(1.0, (LIGHT_R0 / dist) ** 2)
    return ambient + (1.0 - ambient) * ndl * falloff
