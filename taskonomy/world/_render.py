"""Render one sample of the world: the images every task reads and every task's ground truth.

A sample is a pure function of ``(spec, index)``: all randomness comes from
``numpy.random.default_rng([spec.seed, index])``, drawn in a fixed order (scene, cameras, then
the image corruptions), so any process renders the same sample.

Views (all cameras inside the room and outside every object):

* ``rgb``: the main view; every dense label belongs to it.
* ``view1``, ``view2``: the main camera moved by 0.15-0.5 m and turned by about 7 degrees per
  axis (egomotion; ``nonfixated_pose`` uses ``view1``).
* ``view_fix``: a camera 0.3-1 m away that looks at the 3D point seen at the main image's centre.
* ``match_a``, ``match_b``: narrow-field patches; ``match_a`` looks from the main camera at a
  visible 3D point ``P``; ``match_b`` looks from elsewhere at ``P`` (positive, target 1) or at a
  different visible point at least 0.4 m away (negative, target 0), each with probability 1/2.

Poses are :func:`taskonomy.world._geometry.relative_pose` of a view relative to ``rgb``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from taskonomy.tasks._constants import OBJECT_CATEGORIES
from taskonomy.world import _labels
from taskonomy.world._geometry import (
    focal_length,
    intrinsics,
    look_at,
    mul3,
    pixel_rays,
    relative_pose,
    rotvec_to_matrix,
    yaw_pitch_roll,
)
from taskonomy.world._jigsaw import apply_jigsaw, jigsaw_permutations
from taskonomy.world._raycast import Hit, cast_views, closest, occluded
from taskonomy.world._scene import Scene, sample_scene
from taskonomy.world._shading import albedo, shading
from taskonomy.world._spec import WorldSpec

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]

#: The views of a sample, in rendering order (``rgb`` is view 0).
VIEW_KEYS: tuple[str, ...] = ("rgb", "view1", "view2", "view_fix", "match_a", "match_b")


@dataclass(frozen=True)
class Camera:
    """A pinhole camera: camera-to-world rotation (columns = camera axes), centre, field of view."""

    rotation: F64
    centre: F64
    fov_deg: float


@dataclass(frozen=True)
class SampledWorld:
    """The scene and the cameras of one sample (everything but the pixels)."""

    scene: Scene
    cameras: dict[str, Camera]
    match_positive: bool
    fixation_point: F64
    match_points: F64  # (2, 3): the points match_a and match_b look at
    extra: dict[str, object] = field(default_factory=dict)


@lru_cache(maxsize=16)
def _unit_rays(size: int, fov_deg: float) -> tuple[F64, F64]:
    """Camera-frame unit ray directions ``(S*S, 3)`` and the norms of the ``z = 1`` rays."""
    rays = pixel_rays(size, fov_deg)
    norm = np.linalg.norm(rays, axis=-1)
    return rays / norm[:, None], norm


def _probe(scene: Scene, cam: Camera, pixels: F64, size: int) -> F64:
    """World points seen through sub-pixel positions ``(M, 2)`` (column, row) of a camera."""
    f = focal_length(size, cam.fov_deg)
    d = np.stack([(pixels[:, 0] - size / 2) / f, (pixels[:, 1] - size / 2) / f, np.ones(len(pixels))], -1)
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    d_world = mul3(d, cam.rotation.T)
    t, _ = closest(scene, cam.centre, d_world)
    return cam.centre + t[:, None] * d_world


def _visible(scene: Scene, centres: F64, point: F64) -> NDArray[np.bool_]:
    """Whether ``point`` is seen unobstructed from each candidate camera centre ``(M, 3)``."""
    v = point - centres
    dist = np.linalg.norm(v, axis=-1)
    return ~occluded(scene, centres, v / dist[:, None], dist - 1e-3) & (dist > 0.3)


def _random_dirs(rng: np.random.Generator, n: int, *, vertical: float = 0.3) -> F64:
    d = rng.normal(size=(n, 3)) * np.array([1.0, vertical, 1.0])
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def sample_world(spec: WorldSpec, index: int, rng: np.random.Generator | None = None) -> SampledWorld:
    """Draw the scene and all cameras of sample ``index`` (see the module docstring)."""
    rng = rng if rng is not None else np.random.default_rng([spec.seed, index])
    scene = sample_scene(rng, min_objects=spec.min_objects, max_objects=spec.max_objects)
    size, fov = spec.size, spec.fov_deg

    # main camera: a free position at eye height, usually aimed at an object
    cand = np.column_stack([rng.uniform(-1, 1, 32) * (scene.half[0] - 0.4), rng.uniform(1.0, 1.7, 32),
                            rng.uniform(-1, 1, 32) * (scene.half[2] - 0.4)])
    ok = np.nonzero(scene.free(cand, margin=0.3))[0]
    c0 = cand[ok[0]] if len(ok) else np.array([0.0, 1.3, 0.0])
    if scene.objects and rng.random() < 0.8:
        o = scene.objects[int(rng.integers(len(scene.objects)))]
        aim = np.array([o.position[0], 0.5 * o.height, o.position[1]]) - c0
        yaw = float(np.arctan2(aim[0], aim[2])) + float(rng.normal(0, 0.2))
        pitch = float(np.arctan2(aim[1], np.hypot(aim[0], aim[2]))) + float(rng.normal(0, 0.08))
    else:
        yaw = float(rng.uniform(-np.pi, np.pi))
        pitch = float(rng.uniform(-0.35, 0.1))
    r0 = yaw_pitch_roll(yaw, float(np.clip(pitch, -0.7, 0.25)), float(rng.normal(0, 0.04)))
    cams: dict[str, Camera] = {"rgb": Camera(r0, c0, fov)}

    # egomotion views: small motions of the main camera
    for key in ("view1", "view2"):
        step = _random_dirs(rng, 1)[0] * rng.uniform(0.15, 0.5)
        turn = rotvec_to_matrix(rng.normal(0, 0.12, size=3))
        c = c0 + step
        for _ in range(4):
            if scene.free(c[None], margin=0.2)[0]:
                break
            step = step / 2
            c = c0 + step
        else:
            c = c0
        cams[key] = Camera(r0 @ turn, c, fov)

    # probe points: the main view's centre (fixation) and random pixels (matching)
    px = np.vstack([[size / 2, size / 2], rng.uniform(0.1 * size, 0.9 * size, size=(9, 2))])
    probes = _probe(scene, cams["rgb"], px, size)
    fix = probes[0]
    cand = c0 + _random_dirs(rng, 8) * rng.uniform(0.3, 1.0, size=(8, 1))
    ok = np.nonzero(scene.free(cand, margin=0.2) & _visible(scene, cand, fix))[0]
    c_fix = cand[ok[0]] if len(ok) else c0
    cams["view_fix"] = Camera(look_at(c_fix, fix, roll=float(rng.normal(0, 0.04))), c_fix, fov)

    p_match = probes[1]
    positive = bool(rng.random() < 0.5)
    far = np.linalg.norm(probes[2:] - p_match, axis=-1)
    q = probes[2 + int(np.argmax(far > 0.4))] if (far > 0.4).any() else probes[2 + int(far.argmax())]
    target_b = p_match if positive else q
    cand = c0 + _random_dirs(rng, 8) * rng.uniform(0.3, 1.2, size=(8, 1))
    ok = np.nonzero(scene.free(cand, margin=0.2) & _visible(scene, cand, target_b))[0]
    c_b = cand[ok[0]] if len(ok) else c0
    pfov = spec.patch_fov_deg
    cams["match_a"] = Camera(look_at(c0, p_match, roll=float(rng.normal(0, 0.04))), c0, pfov)
    cams["match_b"] = Camera(look_at(c_b, target_b, roll=float(rng.normal(0, 0.04))), c_b, pfov)
    return SampledWorld(scene, cams, positive, fix, np.stack([p_match, target_b]))


def _cast_views(scene: Scene, cams: list[Camera], size: int) -> tuple[Hit, F64]:
    """Cast every pixel ray of several views in one batch; also return the rays' z = 1 norms."""
    dirs, norms = [], []
    for cam in cams:
        d, nrm = _unit_rays(size, cam.fov_deg)
        dirs.append(mul3(d, cam.rotation.T))
        norms.append(nrm)
    return cast_views(scene, [c.centre for c in cams], dirs), np.concatenate(norms)


def _chw(a: F64, size: int) -> F32:
    return np.ascontiguousarray(a.reshape(size, size, -1).transpose(2, 0, 1), dtype=np.float32)


def _geometry_labels(scene: Scene, cam: Camera, hit: Hit, norms: F64, size: int) -> dict[str, NDArray[np.generic]]:
    """The main view's geometric labels from its (first ``size**2``) hits."""
    n = size * size
    r = cam.rotation
    t = hit.t[:n]
    depth_z = (t / norms[:n]).reshape(size, size)
    normal_cam = mul3(hit.normal[:n], r).reshape(size, size, 3)
    rays = pixel_rays(size, cam.fov_deg).reshape(size, size, 3)

    def depth_along(cam_rays: F64) -> F64:
        nrm = np.linalg.norm(cam_rays, axis=-1)
        t_sub, _ = closest(scene, cam.centre, mul3(cam_rays / nrm[:, None], r.T))
        return t_sub / nrm

    surface = hit.surface[:n].reshape(size, size)
    return {
        "depth_zbuffer": depth_z[None].astype(np.float32),
        "depth_euclidean": t.reshape(1, size, size).astype(np.float32),
        "normal": np.ascontiguousarray(normal_cam.transpose(2, 0, 1), dtype=np.float32),
        "principal_curvature": _chw(hit.curvature[:n], size),
        "edge_occlusion": _labels.edge_occlusion(depth_z, rays, surface, depth_along)[None],
        "keypoints3d": _labels.keypoints3d(depth_z, normal_cam, focal=focal_length(size, cam.fov_deg))[None],
        "points": mul3(hit.point[:n] - cam.centre, r).reshape(size, size, 3),
        "surface": surface,
    }


def render_view(scene: Scene, cam: Camera, size: int, *, ambient: float = 0.3) -> dict[str, NDArray[np.generic]]:
    """Render one camera with its geometric labels, plus camera-frame ``points`` and ``surface`` ids."""
    hit, norms = _cast_views(scene, [cam], size)
    shade = shading(scene, hit, ambient=ambient)
    rgb = albedo(scene, hit) * shade[:, None]
    out = _geometry_labels(scene, cam, hit, norms, size)
    out["rgb"] = _chw(rgb, size)
    out["reshading"] = shade.reshape(1, size, size).astype(np.float32)
    return out


def render_sample(spec: WorldSpec, index: int) -> dict[str, NDArray[np.generic]]:
    """Render sample ``index`` of the world ``spec``: every image key and every task's target.

    Keys (see ``taskonomy/tasks/_spec.py`` for the contract): the images ``rgb, rgb_noisy, gray,
    rgb_masked, jigsaw_image, view1, view2, view_fix, match_a, match_b``; the targets ``jigsaw,
    edge_texture, edge_occlusion, keypoints2d, keypoints3d, reshading, depth_zbuffer,
    depth_euclidean, normal, principal_curvature, segment_unsup2d, segment_unsup25d,
    segment_semantic, class_object, class_scene, room_layout, vanishing_point, egomotion,
    fixated_pose, nonfixated_pose, point_matching``; and ``meta.*`` extras: ``meta.K`` and
    ``meta.K_patch`` (intrinsics), ``meta.cameras`` ((6, 3, 4) camera-to-world ``[R | C]`` of
    the views in :data:`VIEW_KEYS` order), ``meta.inpaint_mask`` ((H, W), 1 where masked),
    ``meta.fixation_point`` and ``meta.match_points`` (world frame).

    ``class_object`` is the visible-area share of each object category; when no object is in
    view it is uniform over the categories (so it always sums to 1).
    """
    if isinstance(index, bool) or not isinstance(index, int | np.integer) or index < 0:
        from taskonomy.errors import InvalidInputError

        raise InvalidInputError(f"sample index must be a non-negative integer, got {index!r}")
    index = int(index)
    rng = np.random.default_rng([spec.seed, index])
    world = sample_world(spec, index, rng)
    scene, cams = world.scene, world.cameras
    s, n = spec.size, spec.size * spec.size
    cam_list = [cams[k] for k in VIEW_KEYS]
    hit, norms = _cast_views(scene, cam_list, s)
    shade = shading(scene, hit, ambient=spec.ambient)
    colour = albedo(scene, hit) * shade[:, None]
    out: dict[str, NDArray[np.generic]] = {}
    for i, key in enumerate(VIEW_KEYS):
        out[key] = _chw(colour[i * n:(i + 1) * n], s)

    # --- main-view geometry -------------------------------------------------------------
    c0 = cams["rgb"]
    r0 = c0.rotation
    geo = _geometry_labels(scene, c0, hit, norms, s)
    points_cam = np.asarray(geo.pop("points"), dtype=np.float64)
    surface = np.asarray(geo.pop("surface"), dtype=np.int64)
    out.update(geo)
    out["reshading"] = shade[:n].reshape(1, s, s).astype(np.float32)
    normal_cam = geo["normal"].transpose(1, 2, 0).astype(np.float64)

    # --- image-based labels ---------------------------------------------------------------
    rgb_hwc = colour[:n].reshape(s, s, 3)
    gray = 0.299 * rgb_hwc[..., 0] + 0.587 * rgb_hwc[..., 1] + 0.114 * rgb_hwc[..., 2]
    out["edge_texture"] = _labels.edge_texture(gray)[None]
    out["keypoints2d"] = _labels.keypoints2d(gray)[None]
    out["segment_unsup2d"] = _labels.segment_unsup2d(rgb_hwc)
    out["segment_unsup25d"] = _labels.segment_unsup25d(rgb_hwc, points_cam, normal_cam)

    # --- semantics ------------------------------------------------------------------------
    sem = scene.surface_class()[surface]
    out["segment_semantic"] = sem.astype(np.int64)
    counts = np.bincount((sem[sem >= 3] - 3).ravel(), minlength=len(OBJECT_CATEGORIES)).astype(np.float64)
    dist = counts / counts.sum() if counts.sum() > 0 else np.full(len(OBJECT_CATEGORIES), 1.0 / len(OBJECT_CATEGORIES))
    out["class_object"] = dist.astype(np.float32)
    out["class_scene"] = np.array(scene.room_type, dtype=np.int64)

    # --- layout and poses -----------------------------------------------------------------
    out["room_layout"] = _labels.room_layout(r0, c0.centre, scene.centre, np.asarray(scene.half))
    out["vanishing_point"] = _labels.vanishing_points(r0)

    def pose(key: str) -> F64:
        c = cams[key]
        return relative_pose(r0, c0.centre, c.rotation, c.centre)

    out["nonfixated_pose"] = pose("view1").astype(np.float32)
    out["egomotion"] = np.concatenate([pose("view1"), pose("view2")]).astype(np.float32)
    out["fixated_pose"] = pose("view_fix").astype(np.float32)
    out["point_matching"] = np.array([1.0 if world.match_positive else 0.0], dtype=np.float32)

    # --- image corruptions (inputs of the self-supervised tasks) ------------------------------
    rgb = _chw(colour[:n], s)
    out["rgb_noisy"] = np.clip(rgb + rng.normal(0.0, spec.noise_sigma, size=rgb.shape), 0.0, 1.0).astype(np.float32)
    out["gray"] = np.repeat(gray.reshape(1, s, s), 3, axis=0).astype(np.float32)
    side = int(rng.integers(s // 4, s // 2 + 1))
    y0, x0 = (int(v) for v in rng.integers(0, s - side + 1, size=2))
    mask = np.zeros((s, s), dtype=np.float32)
    mask[y0:y0 + side, x0:x0 + side] = 1.0
    out["rgb_masked"] = (rgb * (1.0 - mask)).astype(np.float32)
    perm_index = int(rng.integers(len(jigsaw_permutations())))
    out["jigsaw"] = np.array(perm_index, dtype=np.int64)
    out["jigsaw_image"] = apply_jigsaw(rgb, jigsaw_permutations()[perm_index])

    out["meta.K"] = intrinsics(s, spec.fov_deg).astype(np.float32)
    out["meta.K_patch"] = intrinsics(s, spec.patch_fov_deg).astype(np.float32)
    out["meta.cameras"] = np.stack([np.column_stack([c.rotation, c.centre]) for c in cam_list]).astype(np.float32)
    out["meta.inpaint_mask"] = mask
    out["meta.fixation_point"] = world.fixation_point.astype(np.float32)
    out["meta.match_points"] = world.match_points.astype(np.float32)
    return out
