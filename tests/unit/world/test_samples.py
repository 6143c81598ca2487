"""Ground-truth invariants of rendered samples, parametrised over the task registry."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest

from taskonomy.tasks import (
    BUILTIN_TASKS,
    FINE_OBJECT_CLASSES,
    IMAGE_KEYS,
    OBJECT_CATEGORIES,
    SEMANTIC_CLASSES,
    SEMANTIC_UNCERTAIN,
    TaskSpec,
    registry,
)
from taskonomy.world import (
    VIEW_KEYS,
    apply_jigsaw,
    invert_permutation,
    jigsaw_permutations,
    render_sample,
    render_view,
    rotvec_to_matrix,
    sample_world,
)
from taskonomy.world._geometry import pixel_rays
from taskonomy.world._labels import decode_room_layout, decode_vanishing_points
from taskonomy.world._shading import LIGHT_R0

from .conftest import SIZE

UNIT_MAPS = {"edge_texture", "edge_occlusion", "keypoints2d", "keypoints3d", "reshading"}


@pytest.mark.parametrize("task", list(registry()), ids=lambda t: t.name)
def test_every_task_gets_its_inputs_and_target(task: TaskSpec, samples: list[dict[str, np.ndarray]]) -> None:
    if task not in BUILTIN_TASKS:
        pytest.skip(f"plugin task {task.name} is not rendered by the built-in world")
    for s in samples:
        for key in task.inputs:
            img = s[key]
            assert img.shape == (3, SIZE, SIZE) and img.dtype == np.float32
            assert img.min() >= 0.0 and img.max() <= 1.0
        if not task.trainable:
            continue
        y = s[task.target]
        assert y.shape == task.output.target_shape(SIZE), task.name
        assert y.dtype == np.dtype(task.output.target_dtype()), task.name
        if y.dtype.kind == "f":
            assert np.isfinite(y).all()
        kind, c = task.output.kind, task.output.channels
        if kind == "distribution":
            assert y.min() >= 0 and np.isclose(y.sum(), 1.0, atol=1e-5)
        elif kind == "class":
            assert 0 <= y.min() and y.max() < c
        elif kind == "labels":  # dense labels may mark uncertain pixels
            assert SEMANTIC_UNCERTAIN <= y.min() and y.max() < c
        elif kind == "binary":
            assert y[0] in (0.0, 1.0)
        elif task.target in UNIT_MAPS:
            assert y.min() >= 0.0 and y.max() <= 1.0


def test_all_image_keys_are_rendered(samples: list[dict[str, np.ndarray]]) -> None:
    for s in samples:
        assert set(IMAGE_KEYS) <= set(s)
        assert np.allclose(s["gray"][0], s["gray"][1]) and np.allclose(s["gray"][0], s["gray"][2])


def test_z_depth_and_distance_are_related_through_the_ray(samples: list[dict[str, np.ndarray]]) -> None:
    ray_norm = np.linalg.norm(pixel_rays(SIZE, 60.0), axis=-1).reshape(SIZE, SIZE)
    for s in samples:
        assert np.allclose(s["depth_euclidean"][0], s["depth_zbuffer"][0] * ray_norm, rtol=1e-5)
        assert s["depth_zbuffer"].min() > 0.1


def test_normals_are_unit_and_face_the_camera(samples: list[dict[str, np.ndarray]]) -> None:
    ray = pixel_rays(SIZE, 60.0).reshape(SIZE, SIZE, 3)
    for s in samples:
        n = s["normal"].transpose(1, 2, 0)
        assert np.allclose(np.linalg.norm(n, axis=-1), 1.0, atol=1e-5)
        assert ((n * ray).sum(-1) < 1e-6).all()


def test_curvature_is_ordered_bounded_and_bends_both_ways(samples: list[dict[str, np.ndarray]]) -> None:
    concave = convex = 0
    for s in samples:
        k = s["principal_curvature"]
        assert (k[0] >= k[1]).all() and (k >= -1).all() and (k <= 1).all()
        room = s["segment_semantic"] == 0
        concave += int((k[1][room] < -0.2).sum())  # creases where walls meet the floor, ceiling, each other
        convex += int((k[0] > 0.2).sum())
    assert concave > 0 and convex > 0


def test_reshading_is_a_point_light_at_the_camera(samples: list[dict[str, np.ndarray]]) -> None:
    """reshading = max(0, n . v) min(1, (r0 / distance)^2) from the sample's own normals and depth."""
    ray = pixel_rays(SIZE, 60.0).reshape(SIZE, SIZE, 3)
    to_cam = -ray / np.linalg.norm(ray, axis=-1, keepdims=True)
    for s in samples:
        n = s["normal"].transpose(1, 2, 0).astype(np.float64)
        dist = s["depth_euclidean"][0].astype(np.float64)
        want = np.clip((n * to_cam).sum(-1), 0, 1) * np.minimum(1.0, (LIGHT_R0 / dist) ** 2)
        assert np.allclose(s["reshading"][0], want, atol=1e-5)


def test_semantics_agree(samples: list[dict[str, np.ndarray]]) -> None:
    """class_object's fine classes add up, per category, to the category shares of the segmentation."""
    k = len(FINE_OBJECT_CLASSES)
    cat_of = np.array([OBJECT_CATEGORIES.index(name.split("/")[0]) for name in FINE_OBJECT_CLASSES])
    for s in samples:
        sem = s["segment_semantic"]
        assert sem.min() >= SEMANTIC_UNCERTAIN and sem.max() < len(SEMANTIC_CLASSES)
        p = s["class_object"].astype(np.float64)
        assert np.isclose(p.sum(), 1.0, atol=1e-6) and p.min() >= 0.1 / k - 1e-7
        assert np.isclose(s["class_scene"].sum(), 1.0, atol=1e-6)
        counts = np.bincount(sem[sem > 0].ravel() - 1, minlength=len(OBJECT_CATEGORIES)).astype(np.float64)
        if (sem == SEMANTIC_UNCERTAIN).any() or not counts.sum():
            continue
        per_cat = np.bincount(cat_of, weights=(p - 0.1 / k) / 0.9, minlength=len(OBJECT_CATEGORIES))
        assert np.allclose(per_cat, counts / counts.sum(), atol=1e-5)


def test_vanishing_directions_and_layout(samples: list[dict[str, np.ndarray]]) -> None:
    for s in samples:
        r_cam = s["meta.cameras"][0, :, :3].astype(np.float64)
        dirs = decode_vanishing_points(s["vanishing_point"])
        assert np.allclose(dirs @ dirs.T, np.eye(3), atol=1e-5)
        assert np.allclose(dirs[1], r_cam.T @ [0.0, -1.0, 0.0], atol=1e-5)  # the vertical one is world down
        # each horizontal direction is a room axis (up to sign and order)
        room_axes = r_cam.T[:, [0, 2]]
        for d in (dirs[0], dirs[2]):
            assert np.isclose(np.abs(d @ room_axes).max(), 1.0, atol=1e-5)
        centre, extents, axes = decode_room_layout(s["room_layout"])
        assert np.allclose(sorted(np.abs(axes.T @ r_cam.T[:, 1])), [0, 0, 1], atol=1e-5)  # one box axis is vertical
        # every visible point lies in the box, the room's own surfaces on its boundary
        k_inv = np.linalg.inv(s["meta.K"].astype(np.float64))
        v, u = np.mgrid[0:SIZE, 0:SIZE] + 0.5
        pts = (np.stack([u, v, np.ones_like(u)], -1) @ k_inv.T) * s["depth_zbuffer"][0][..., None]
        rel = np.abs((pts - centre) @ axes) / extents
        assert rel.max() <= 1.0 + 1e-3
        room = s["segment_semantic"] == 0  # the background: the room's own surfaces
        assert np.allclose(rel[room].max(-1), 1.0, atol=1e-3)


def _bilinear(img: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    x, y = np.clip(u - 0.5, 0, SIZE - 1.001), np.clip(v - 0.5, 0, SIZE - 1.001)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    return (img[..., y0, x0] * (1 - fx) * (1 - fy) + img[..., y0, x0 + 1] * fx * (1 - fy)
            + img[..., y0 + 1, x0] * (1 - fx) * fy + img[..., y0 + 1, x0 + 1] * fx * fy)


@pytest.mark.parametrize("base,view,target,part", [
    ("rgb", "view_nonfix", "nonfixated_pose", 0), ("rgb", "view1", "egomotion", 0), ("rgb", "view2", "egomotion", 1),
    ("view1", "view2", "egomotion", 2), ("rgb", "view_fix", "fixated_pose", 0)])
def test_relative_poses_reproject_depth_between_views(spec, samples, base: str, view: str, target: str,
                                                      part: int) -> None:
    k = samples[0]["meta.K"].astype(np.float64)
    v, u = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    rays = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(k).T
    matched = []
    for i, s in enumerate(samples):
        pose = s[target].astype(np.float64).reshape(-1, 6)[part]
        rot, t = rotvec_to_matrix(pose[:3]), pose[3:]
        world = sample_world(spec, i)
        depth_a = render_view(world.scene, world.cameras[base], SIZE)["depth_zbuffer"][0].astype(np.float64)
        x_a = rays * depth_a[..., None]
        x_b = (x_a - t) @ rot  # X_B = R^T (X_A - t)
        z_b = x_b[..., 2]
        uv = (x_b @ k.T)[..., :2] / np.maximum(z_b, 1e-9)[..., None]
        inside = (z_b > 0.1) & (uv[..., 0] > 0.5) & (uv[..., 0] < SIZE - 0.5) & (uv[..., 1] > 0.5) & (
            uv[..., 1] < SIZE - 0.5)
        if inside.sum() < 20:
            continue
        depth_b = render_view(world.scene, world.cameras[view], SIZE)["depth_zbuffer"][0].astype(np.float64)
        pred = _bilinear(depth_b, uv[..., 0][inside], uv[..., 1][inside])
        visible = np.abs(pred - z_b[inside]) / z_b[inside] < 0.03
        matched.append(visible.mean())
        # where the point is visible in B, B's image shows A's colour (Lambertian: view-independent); up to
        # the bilinear resampling of the textures (most walls are patterned), which a wrong pose far exceeds
        col_b = _bilinear(s[view], uv[..., 0][inside], uv[..., 1][inside])
        col_a = s[base][:, inside]
        assert np.median(np.abs(col_b - col_a)[:, visible]) < 0.08
    assert len(matched) >= 3
    assert np.median(matched) > 0.6


def test_fixated_views_share_the_centre_point(samples: list[dict[str, np.ndarray]]) -> None:
    for s in samples:
        cams = s["meta.cameras"].astype(np.float64)
        p = s["meta.fixation_point"].astype(np.float64)
        x_a = cams[0, :, :3].T @ (p - cams[0, :, 3])
        assert np.allclose(x_a[:2] / x_a[2], 0.0, atol=1e-5)  # on A's optical axis
        pose = s["fixated_pose"].astype(np.float64)
        x_b = rotvec_to_matrix(pose[:3]).T @ (x_a - pose[3:])
        assert x_b[2] > 0 and np.allclose(x_b[:2] / x_b[2], 0.0, atol=1e-4)  # and on B's


def test_point_matching_pairs(spec, samples: list[dict[str, np.ndarray]]) -> None:
    labels = []
    for s in samples:
        pa, pb = s["meta.match_points"].astype(np.float64)
        positive = bool(s["point_matching"][0])
        labels.append(positive)
        assert np.allclose(pa, pb) if positive else np.linalg.norm(pa - pb) > 0.05
        for row, p in ((VIEW_KEYS.index("match_a"), pa), (VIEW_KEYS.index("match_b"), pb)):  # looks straight at it
            cam = s["meta.cameras"][row].astype(np.float64)
            x = cam[:, :3].T @ (p - cam[:, 3])
            assert x[2] > 0 and np.allclose(x[:2] / x[2], 0.0, atol=1e-5)
    more = [bool(render_sample(spec, i)["point_matching"][0]) for i in range(len(samples), len(samples) + 10)]
    assert any(labels + more) and not all(labels + more)  # both classes occur


def test_jigsaw_permutations_are_distinct_and_invertible(samples: list[dict[str, np.ndarray]]) -> None:
    perms = jigsaw_permutations()
    assert len({tuple(p) for p in perms}) == len(perms)
    assert np.array_equal(perms[0], np.arange(9))
    for s in samples:
        perm = perms[int(s["jigsaw"])]
        back = apply_jigsaw(s["jigsaw_image"], invert_permutation(perm))
        assert np.array_equal(back, s["rgb"])


def test_views_are_distinct_renders(samples: list[dict[str, np.ndarray]]) -> None:
    s = samples[0]
    for a in VIEW_KEYS:
        for b in VIEW_KEYS:
            if a < b:
                assert not np.array_equal(s[a], s[b])


def _digest(sample: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for k in sorted(sample):
        h.update(k.encode() + np.ascontiguousarray(sample[k]).tobytes())
    return h.hexdigest()


def test_a_sample_is_a_pure_function_of_seed_and_index_across_processes(spec) -> None:
    here = _digest(render_sample(spec, 3))
    assert here == _digest(render_sample(spec, 3))
    assert here != _digest(render_sample(spec, 4))
    code = (
        "import hashlib, numpy as np\n"
        "from taskonomy.world import WorldSpec, render_sample\n"
        f"s = render_sample(WorldSpec(seed={spec.seed}, size={spec.size}), 3)\n"
        "h = hashlib.sha256()\n"
        "for k in sorted(s): h.update(k.encode() + np.ascontiguousarray(s[k]).tobytes())\n"
        "print(h.hexdigest())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == here
