"""The labels mean what Taskonomy's labels mean (world version 3).

Each test pins one definition that version 2 got wrong: reshading from a light at the camera,
bounded curvature, soft occlusion edges, a non-fixated pair of its own and the three-pair
egomotion, layout and vanishing points continuous under the room's symmetry, views that show
a scene, and a 2.5D segmentation that segments surfaces.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import binary_erosion

from taskonomy.world import (
    VIEW_KEYS,
    Camera,
    Material,
    Primitive,
    SceneObject,
    WorldSpec,
    make_scene,
    render_sample,
    render_view,
    rotvec_to_matrix,
    sample_world,
)
from taskonomy.world._cameras import MAX_SURFACE_SHARE, view_shares
from taskonomy.world._geometry import look_at, yaw_pitch_roll
from taskonomy.world._labels import (
    CURVATURE_SATURATION,
    decode_room_layout,
    room_layout,
    segment_unsup2d,
    segment_unsup25d,
    vanishing_points,
)

GREY = Material(0, (0.6, 0.6, 0.6), (0.6, 0.6, 0.6), 1.0)
STRIPES = Material(1, (0.7, 0.2, 0.1), (0.35, 0.1, 0.05), 6.0)


def _camera(centre: tuple[float, float, float], target: tuple[float, float, float], fov: float = 60.0) -> Camera:
    c = np.array(centre)
    return Camera(look_at(c, np.array(target)), c, fov)


def _sphere_scene(light: tuple[float, float, float]):
    prim = Primitive("sphere", 0, (0.3, 1.0, 1.0), (0.4, 0.4, 0.4), 0.0, GREY)
    return make_scene(half=(2.0, 1.5, 2.0), objects=(SceneObject(0, (0.3, 1.0), 0.4, 1.4),), primitives=(prim,),
                      light=light)


# --- 1. reshading ---------------------------------------------------------------------------

def test_moving_the_scene_light_changes_the_image_but_not_reshading() -> None:
    cam = _camera((0.0, 1.4, -1.5), (0.3, 1.0, 1.0))
    a = render_view(_sphere_scene((-1.5, 2.85, -1.0)), cam, 32)
    b = render_view(_sphere_scene((1.5, 2.85, 1.5)), cam, 32)
    assert np.abs(a["rgb"] - b["rgb"]).mean() > 0.02  # the image's own lighting moved
    assert np.array_equal(a["reshading"], b["reshading"])


def test_reshading_of_a_wall_facing_the_camera_is_the_cosine_law_with_falloff() -> None:
    scene = make_scene(half=(2.0, 1.5, 2.0))
    view = render_view(scene, _camera((0.0, 1.5, -1.0), (0.0, 1.5, 2.0)), 16)  # the wall z = 2, 3 m away
    wall = view["surface"] == 5
    dist = view["depth_euclidean"][0].astype(np.float64)[wall]
    cos = 3.0 / dist  # n . v for the wall's normal (0, 0, -1)
    assert wall.sum() > 100
    assert np.allclose(view["reshading"][0][wall], cos * np.minimum(1.0, (3.0 / dist) ** 2), atol=1e-6)
    assert view["reshading"].max() == pytest.approx(1.0, abs=5e-3)  # the centre, 3 m straight ahead


# --- 2. principal curvature ---------------------------------------------------------------------

def test_curvature_is_bounded_and_thin_poles_stay_bounded() -> None:
    """A pole one pixel wide is cut off from both neighbours by occlusions: no neighbourhood to
    estimate its curvature on (0, as a mesh estimate at that scale would not resolve it either)."""
    pole = Primitive("cylinder", 0, (0.4, 0.0, 1.0), (0.02, 2.5, 0.02), 0.0, GREY)  # 50 m^-1
    ball = Primitive("sphere", 1, (-0.4, 1.2, 1.0), (0.25, 0.25, 0.25), 0.0, GREY)  # 4 m^-1
    objs = (SceneObject(3, (0.4, 1.0), 0.05, 2.5), SceneObject(0, (-0.4, 1.0), 0.25, 1.45))
    scene = make_scene(half=(2.0, 1.5, 2.0), objects=objs, primitives=(pole, ball))
    view = render_view(scene, _camera((0.0, 1.2, -1.0), (0.0, 1.2, 1.0)), 64)
    k = view["principal_curvature"]
    assert k.min() >= -1.0 and k.max() <= 1.0
    pole_k = k[:, view["surface"] == 6]
    assert pole_k.size and np.abs(pole_k).max() <= 1.0
    # the ball (4 / m) keeps its value in its middle; towards its silhouette the neighbourhood is one-sided
    ball = binary_erosion(view["surface"] == 7, iterations=3)
    assert ball.sum() > 20 and np.isclose(np.median(k[:, ball]), 4.0 / CURVATURE_SATURATION, rtol=0.1)
    assert k[:, ball].min() > 0.5 * 4.0 / CURVATURE_SATURATION


def test_surfaces_not_poles_carry_the_curvature_loss() -> None:
    """Of the squared error of predicting 'flat', thin structures (curvature > 15 / m) carry little."""
    spec = WorldSpec(seed=3, size=32)
    thin = total = 0.0
    for i in range(40):
        world = sample_world(spec, i)
        view = render_view(world.scene, world.cameras["rgb"], 32)
        sq = (view["principal_curvature"].astype(np.float64) ** 2).sum(0)
        radius = np.array([p.size[0] for p in world.scene.primitives] or [1.0])
        surface = view["surface"]
        is_thin = (surface >= 6) & (radius[np.clip(surface - 6, 0, None)] < 1 / 15)
        thin += sq[is_thin].sum()
        total += sq.sum()
    assert total > 0
    assert thin / total < 0.25


# --- 3. occlusion edges -------------------------------------------------------------------

def test_occlusion_edges_are_a_soft_map_a_few_pixels_wide() -> None:
    view = render_view(_sphere_scene((0.0, 2.85, 0.0)), _camera((0.0, 1.0, -1.5), (0.3, 1.0, 1.0)), 64)
    soft, boundary = view["edge_occlusion"][0], view["occlusion_boundary"]
    assert boundary.sum() > 20
    assert soft.min() >= 0.0 and soft.max() <= 1.0
    assert np.all(soft[boundary] == 1.0)  # the boundary itself is 1
    assert (soft > 0.05).sum() >= 4 * boundary.sum()  # widened on both sides
    assert soft.mean() > 0.03  # predicting 'no edge' is no longer nearly free


# --- 4. poses ----------------------------------------------------------------------------

def test_every_pose_label_has_its_own_views_and_egomotion_has_three_pairs() -> None:
    spec = WorldSpec(seed=1, size=16)
    for i in range(12):
        s = render_sample(spec, i)
        ego = s["egomotion"].astype(np.float64).reshape(3, 6)
        assert not np.allclose(s["nonfixated_pose"], ego[0]) and not np.allclose(s["nonfixated_pose"], ego[1])
        # pair (1, 2) is (0, 1) followed by (0, 2): R12 = R01^T R02, t12 = R01^T (t02 - t01)
        r01, r02, r12 = (rotvec_to_matrix(p[:3]) for p in ego)
        assert np.allclose(r12, r01.T @ r02, atol=1e-5)
        assert np.allclose(ego[2, 3:], r01.T @ (ego[1, 3:] - ego[0, 3:]), atol=1e-5)
        # the non-fixated camera is its own view, further away than the egomotion steps
        cams = s["meta.cameras"].astype(np.float64)
        nonfix = cams[VIEW_KEYS.index("view_nonfix")]
        assert np.linalg.norm(nonfix[:, 3] - cams[0, :, 3]) > 0.05
        for key in ("view1", "view2", "view_fix"):
            assert not np.allclose(nonfix, cams[VIEW_KEYS.index(key)])


# --- 5. layout and vanishing points ---------------------------------------------------------

def _labels_at_yaw(yaw: float) -> np.ndarray:
    r = yaw_pitch_roll(yaw, -0.2, 0.03)
    half = np.array([2.5, 1.4, 1.9])
    return np.concatenate([vanishing_points(r), room_layout(r, np.array([0.3, 1.3, -0.4]),
                                                            np.array([0.0, 1.4, 0.0]), half)])


def test_layout_and_vanishing_points_are_continuous_through_45_degrees() -> None:
    yaws = np.radians(np.linspace(30.0, 60.0, 601))  # 0.05 degree steps across the old switch at 45
    labels = np.stack([_labels_at_yaw(y) for y in yaws]).astype(np.float64)
    steps = np.abs(np.diff(labels, axis=0)).max(axis=0)
    assert steps.max() < 0.02  # no jump anywhere: at most ~4x the yaw step in radians (8.7e-4) x extents


def test_layout_and_vanishing_points_do_not_depend_on_how_the_room_axes_are_named() -> None:
    """The same room with x and z swapped (a 90 degree turn of the world frame) gives the same label."""
    r = yaw_pitch_roll(0.7, -0.15, 0.02)
    turn = rotvec_to_matrix(np.array([0.0, np.pi / 2, 0.0]))  # world frame turned about the vertical
    c, centre = np.array([0.3, 1.3, -0.4]), np.array([0.0, 1.4, 0.0])
    a = room_layout(r, c, centre, np.array([2.5, 1.4, 1.9]))
    b = room_layout(turn.T @ r, turn.T @ c, turn.T @ centre, np.array([1.9, 1.4, 2.5]))
    assert np.allclose(a, b, atol=1e-5)
    assert np.allclose(vanishing_points(r), vanishing_points(turn.T @ r), atol=1e-5)
    _, extents, _ = decode_room_layout(a)
    assert np.allclose(sorted(extents), [1.4, 1.9, 2.5], atol=1e-5)


# --- 6. views that show a scene -----------------------------------------------------------

@pytest.mark.slow
def test_every_full_field_view_shows_two_surfaces_and_the_main_one_an_object() -> None:
    spec = WorldSpec(seed=11, size=32)
    for i in range(120):
        world = sample_world(spec, i)
        s = render_sample(spec, i)
        shares = np.bincount(render_view(world.scene, world.cameras["rgb"], 32)["surface"].ravel())
        assert shares.max() / shares.sum() <= 0.95, i
        if world.scene.objects:
            assert (s["segment_semantic"] != 0).any(), i  # an object is in view
        for key in ("view1", "view2", "view_fix", "view_nonfix"):
            dominant, _ = view_shares(world.scene, world.cameras[key])
            assert dominant <= MAX_SURFACE_SHARE, (i, key)


# --- 7. 2.5D segmentation ----------------------------------------------------------------

def test_the_2_5d_segmentation_keeps_a_barrel_side_whole() -> None:
    barrel = Primitive("cylinder", 0, (0.0, 0.0, 1.0), (0.35, 1.0, 0.35), 0.0, STRIPES)
    scene = make_scene(half=(2.0, 1.5, 2.5), objects=(SceneObject(4, (0.0, 1.0), 0.35, 1.0),), primitives=(barrel,))
    view = render_view(scene, _camera((0.3, 1.1, -0.8), (0.0, 0.5, 1.0)), 128)
    side = (view["surface"] == 6) & (view["principal_curvature"][0] > 0)
    rgb = view["rgb"].transpose(1, 2, 0).astype(np.float64)
    seg2d = segment_unsup2d(rgb)
    seg25d = segment_unsup25d(rgb, view["normal"].transpose(1, 2, 0).astype(np.float64),
                              view["depth_euclidean"][0].astype(np.float64))
    n2d, n25d = len(np.unique(seg2d[side])), len(np.unique(seg25d[side]))
    assert n25d <= 10 and n25d < n2d / 1.5
    # and the segments do not straddle surfaces: the barrel's side and the wall behind stay apart
    for g in np.unique(seg25d[side]):
        members = seg25d == g
        assert (side & members).sum() / members.sum() > 0.9


# --- shapes do not follow from categories -------------------------------------------------------

def test_tables_cabinets_lamps_and_vases_come_in_two_shapes() -> None:
    """Curvature and normals are geometry, not semantics: a category in VARIED_SHAPES takes both of its
    shapes across scenes (round and rectangular tables, ...), while the main random stream is untouched."""
    from taskonomy.tasks import OBJECT_CATEGORIES
    from taskonomy.world._scene import VARIED_SHAPES, sample_scene

    kinds: dict[str, set[tuple[str, ...]]] = {c: set() for c in VARIED_SHAPES}
    for i in range(120):
        scene = sample_scene(np.random.default_rng([5, i]))
        for k, obj in enumerate(scene.objects):
            name = OBJECT_CATEGORIES[obj.category]
            if name in kinds:
                kinds[name].add(tuple(sorted(p.kind for p in scene.primitives if p.obj == k)))
    assert all(len(shapes) == 2 for shapes in kinds.values()), kinds


# --- faster computations of unchanged labels stay identical ------------------------------------

def test_keypoints_and_segmentation_equal_their_reference_implementations() -> None:
    """The renderer's own Harris, 3D Harris and Felzenszwalb give exactly what scikit-image and the
    straightforward formulas give (on real rendered samples)."""
    from scipy.ndimage import gaussian_filter
    from skimage.feature import corner_harris
    from skimage.segmentation import felzenszwalb as sk_felzenszwalb

    from taskonomy.world._labels import HARRIS_K, _normalise_response, keypoints2d, keypoints3d
    from taskonomy.world._segment import felzenszwalb

    spec = WorldSpec(seed=2, size=48)
    for i in range(6):
        s = render_sample(spec, i)
        rgb = s["rgb"].transpose(1, 2, 0).astype(np.float64)
        gray = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
        ref2d = _normalise_response(corner_harris(gray, method="k", k=HARRIS_K, sigma=1.0), floor=1e-4)
        assert np.array_equal(keypoints2d(gray), ref2d.astype(np.float32))
        depth, normals = s["depth_zbuffer"][0].astype(np.float64), s["normal"].transpose(1, 2, 0).astype(np.float64)
        sxx, syy, sxy = (np.zeros_like(depth) for _ in range(3))
        for f in (normals[..., 0], normals[..., 1], normals[..., 2], np.log(depth) * (40.0 / 8.0)):
            gy, gx = np.gradient(f)
            sxx, syy, sxy = sxx + gx * gx, syy + gy * gy, sxy + gx * gy
        sxx, syy, sxy = (gaussian_filter(a, 1.0, mode="nearest") for a in (sxx, syy, sxy))
        ref3d = _normalise_response(sxx * syy - sxy * sxy - HARRIS_K * (sxx + syy) ** 2, floor=1e-3)
        assert np.array_equal(keypoints3d(depth, normals, focal=40.0), ref3d.astype(np.float32))
        ours = felzenszwalb(rgb, scale=60.0, sigma=0.5, min_size=20)
        theirs = sk_felzenszwalb(rgb, scale=60.0, sigma=0.5, min_size=20)
        agree = (ours.ravel()[:, None] == ours.ravel()[None, :]) == (theirs.ravel()[:, None] == theirs.ravel()[None, :])
        assert agree.mean() > 0.995  # the same partition up to how ties between equal edge weights are ordered
