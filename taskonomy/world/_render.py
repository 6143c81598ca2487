"""Render one sample of the world: the images every task reads and every task's ground truth.

A sample is a pure function of ``(spec, index)``: all randomness comes from
``numpy.random.default_rng([spec.seed, index])`` (and ``[spec.seed, index, 1]`` for the
non-fixated view), drawn in a fixed order (scene, cameras, then the image corruptions of
:func:`taskonomy.world._corruptions.corrupted_inputs`), so any process renders the same sample.
The views are described in :mod:`taskonomy.world._cameras`.

Poses are :func:`taskonomy.world._geometry.relative_pose` of one view relative to another:
``fixated_pose`` and ``nonfixated_pose`` give ``view_fix`` and ``view_nonfix`` relative to
``rgb``; ``egomotion`` gives the three pairs of the triplet ``(rgb, view1, view2)``: view1 and
view2 relative to rgb, and view2 relative to view1 (18 numbers, as in the paper).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from taskonomy.contract.world import WorldSpec
from taskonomy.errors import InvalidInputError
from taskonomy.world import _labels, _semantic
from taskonomy.world._cameras import Camera, sample_world
from taskonomy.world._corruptions import corrupted_inputs
from taskonomy.world._curvature import estimate_curvature
from taskonomy.world._geometry import focal_length, intrinsics, mul3, pixel_rays, relative_pose
from taskonomy.world._raycast import Hit, cast_camera, refine_steps
from taskonomy.world._scene import Scene
from taskonomy.world._shading import camera_colour, image_colour, reshading

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]

#: The views of a sample, in rendering order (``rgb`` is view 0).
VIEW_KEYS: tuple[str, ...] = ("rgb", "view1", "view2", "view_fix", "view_nonfix", "match_a", "match_b")


@lru_cache(maxsize=16)
def _grid_rays(size: int, fov_deg: float) -> F64:
    """Camera-frame pixel rays with ``z = 1``, ``(S, S, 3)`` (cached: every sample uses the same)."""
    rays = pixel_rays(size, fov_deg).reshape(size, size, 3)
    rays.flags.writeable = False
    return rays


@lru_cache(maxsize=16)
def _unit_rays(size: int, fov_deg: float) -> tuple[F64, F64]:
    """Camera-frame unit ray directions ``(S*S, 3)`` and the norms of the ``z = 1`` rays."""
    rays = pixel_rays(size, fov_deg)
    norm = np.linalg.norm(rays, axis=-1)
    return rays / norm[:, None], norm


def _cast_view(scene: Scene, cam: Camera, size: int) -> Hit:
    return cast_camera(scene, cam.rotation, cam.centre, _unit_rays(size, cam.fov_deg)[0])


def _chw(a: NDArray[np.floating], size: int) -> F32:
    return np.ascontiguousarray(a.reshape(size, size, -1).transpose(2, 0, 1), dtype=np.float32)


def _geometry_labels(scene: Scene, cam: Camera, hit: Hit, size: int) -> dict[str, NDArray[np.generic]]:
    """The geometric labels of one view from its hits."""
    r = cam.rotation
    norms = _unit_rays(size, cam.fov_deg)[1]
    depth_z = (hit.t / norms).reshape(size, size)
    normal_cam = mul3(hit.normal, r).reshape(size, size, 3)
    rays = _grid_rays(size, cam.fov_deg)

    def refine(lo_r: F64, hi_r: F64, lo_z: F64, hi_z: F64) -> tuple[F64, F64]:
        return refine_steps(scene, r, cam.centre, lo_r, hi_r, lo_z, hi_z, levels=_labels.OCCLUSION_LEVELS)

    surface = hit.surface.reshape(size, size)
    boundary, cut_rows, cut_cols = _labels.occlusion_cuts(depth_z, rays, surface, refine)
    points = rays * depth_z[..., None]
    curvature = estimate_curvature(points, normal_cam, cut_rows, cut_cols,
                                           sigma=_labels.curvature_sigma(size))
    return {
        "depth_zbuffer": depth_z[None].astype(np.float32),
        "depth_euclidean": hit.t.reshape(1, size, size).astype(np.float32),
        "normal": np.ascontiguousarray(normal_cam.transpose(2, 0, 1), dtype=np.float32),
        "principal_curvature": _chw(_labels.principal_curvature(curvature), size),
        "edge_occlusion": _labels.edge_occlusion(boundary)[None],
        "keypoints3d": _labels.keypoints3d(depth_z, normal_cam, focal=focal_length(size, cam.fov_deg))[None],
        "reshading": reshading(hit, cam.centre).reshape(1, size, size).astype(np.float32),
        "surface": surface,
        "occlusion_boundary": boundary,
    }


def render_view(scene: Scene, cam: Camera, size: int, *, ambient: float = 0.3) -> dict[str, NDArray[np.generic]]:
    """Render one camera with its geometric labels, plus camera-frame ``points``, ``surface`` ids
    and the 1-pixel ``occlusion_boundary`` behind the soft ``edge_occlusion``."""
    hit = _cast_view(scene, cam, size)
    out = _geometry_labels(scene, cam, hit, size)
    out["points"] = mul3(hit.point - cam.centre, cam.rotation).reshape(size, size, 3)
    out["rgb"] = _chw(image_colour(scene, hit, ambient=ambient), size)
    return out


def render_sample(spec: WorldSpec, index: int) -> dict[str, NDArray[np.generic]]:
    """Render sample ``index`` of the world ``spec``: every image key and every task's target.

    Keys (see ``taskonomy/tasks/_spec.py`` for the contract): the images ``rgb, rgb_noisy, gray,
    rgb_masked, jigsaw_image, view1, view2, view_fix, view_nonfix, match_a, match_b``; the targets
    ``jigsaw, edge_texture, edge_occlusion, keypoints2d, keypoints3d, reshading, depth_zbuffer,
    depth_euclidean, normal, principal_curvature, segment_unsup2d, segment_unsup25d,
    segment_semantic, class_object, class_scene, room_layout, vanishing_point, egomotion,
    fixated_pose, nonfixated_pose, point_matching``; and ``meta.*`` extras: ``meta.K`` and
    ``meta.K_patch`` (intrinsics), ``meta.cameras`` ((7, 3, 4) camera-to-world ``[R | C]`` of
    the views in :data:`VIEW_KEYS` order), ``meta.inpaint_mask`` ((H, W), 1 where masked),
    ``meta.fixation_point`` and ``meta.match_points`` (world frame).

    The semantic labels are defined as Taskonomy's (see :mod:`taskonomy.world._semantic`):
    ``segment_semantic`` the object category per pixel (0 background, ``SEMANTIC_UNCERTAIN`` on
    barely visible objects), ``class_object`` a classifier-like soft distribution over the fine
    object classes in view, ``class_scene`` the posterior over the room types given what is in view.
    """
    if isinstance(index, bool) or not isinstance(index, int | np.integer) or index < 0:
        raise InvalidInputError(f"sample index must be a non-negative integer, got {index!r}")
    index = int(index)
    rng = np.random.default_rng([spec.seed, index])
    world = sample_world(spec, index, rng)
    scene, cams = world.scene, world.cameras
    s = spec.size
    cam_list = [cams[k] for k in VIEW_KEYS]
    c0 = cams["rgb"]
    hit = _cast_view(scene, c0, s)  # the main view keeps its hits: every dense label is computed from them
    colour = image_colour(scene, hit, ambient=spec.ambient)
    out: dict[str, NDArray[np.generic]] = {"rgb": _chw(colour, s)}
    for key, cam in zip(VIEW_KEYS[1:], cam_list[1:], strict=True):
        out[key] = _chw(camera_colour(scene, cam.rotation, cam.centre, _unit_rays(s, cam.fov_deg)[0],
                                      ambient=spec.ambient), s)

    # --- main-view geometry -------------------------------------------------------------
    geo = _geometry_labels(scene, c0, hit, s)
    surface = np.asarray(geo.pop("surface"), dtype=np.int64)
    geo.pop("occlusion_boundary")
    out.update(geo)
    normal_cam = geo["normal"].transpose(1, 2, 0).astype(np.float64)

    # --- image-based labels ---------------------------------------------------------------
    rgb_hwc = colour.reshape(s, s, 3)
    gray = 0.299 * rgb_hwc[..., 0] + 0.587 * rgb_hwc[..., 1] + 0.114 * rgb_hwc[..., 2]
    out["edge_texture"] = _labels.edge_texture(gray)[None]
    out["keypoints2d"] = _labels.keypoints2d(gray)[None]
    out["segment_unsup2d"] = _labels.segment_unsup2d(rgb_hwc)
    distance = geo["depth_euclidean"][0].astype(np.float64)
    out["segment_unsup25d"] = _labels.segment_unsup25d(rgb_hwc, normal_cam, distance)

    # --- semantics ------------------------------------------------------------------------
    out.update(_semantic.semantic_labels(scene, surface))

    # --- layout and poses -----------------------------------------------------------------
    out["room_layout"] = _labels.room_layout(c0.rotation, c0.centre, scene.centre, np.asarray(scene.half))
    out["vanishing_point"] = _labels.vanishing_points(c0.rotation)

    def pose(a: str, b: str) -> F64:
        ca, cb = cams[a], cams[b]
        return relative_pose(ca.rotation, ca.centre, cb.rotation, cb.centre)

    out["egomotion"] = np.concatenate([pose("rgb", "view1"), pose("rgb", "view2"),
                                       pose("view1", "view2")]).astype(np.float32)
    out["fixated_pose"] = pose("rgb", "view_fix").astype(np.float32)
    out["nonfixated_pose"] = pose("rgb", "view_nonfix").astype(np.float32)
    out["point_matching"] = np.array([1.0 if world.match_positive else 0.0], dtype=np.float32)

    # --- image corruptions (inputs of the self-supervised tasks) ------------------------------
    corrupted = corrupted_inputs(_chw(colour, s), rng, noise_sigma=spec.noise_sigma, gray=gray)
    mask = corrupted.pop("meta.inpaint_mask")
    out.update(corrupted)

    out["meta.K"] = intrinsics(s, spec.fov_deg).astype(np.float32)
    out["meta.K_patch"] = intrinsics(s, spec.patch_fov_deg).astype(np.float32)
    out["meta.cameras"] = np.stack([np.column_stack([c.rotation, c.centre]) for c in cam_list]).astype(np.float32)
    out["meta.inpaint_mask"] = mask
    out["meta.fixation_point"] = world.fixation_point.astype(np.float32)
    out["meta.match_points"] = world.match_points.astype(np.float32)
    return out
