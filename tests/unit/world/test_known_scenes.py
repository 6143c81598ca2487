"""Ground truth against hand-built scenes whose answers are known in closed form."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_dilation, binary_erosion

from taskonomy.world import Camera, Material, Primitive, SceneObject, make_scene, render_view
from taskonomy.world._geometry import look_at
from taskonomy.world._labels import CURVATURE_SATURATION

GREY = Material(0, (0.6, 0.6, 0.6), (0.6, 0.6, 0.6), 1.0)
SIZE = 24


def _camera(centre: tuple[float, float, float], target: tuple[float, float, float]) -> Camera:
    c = np.array(centre)
    return Camera(look_at(c, np.array(target)), c, 60.0)


def test_camera_facing_a_wall() -> None:
    scene = make_scene(half=(2.0, 1.5, 2.0))
    view = render_view(scene, _camera((0.0, 1.5, 0.5), (0.0, 1.5, 3.0)), SIZE)
    assert np.allclose(view["depth_zbuffer"], 1.5, atol=1e-9)  # the wall z = 2 seen from z = 0.5
    assert np.allclose(view["normal"].reshape(3, -1).T, [0.0, 0.0, -1.0])  # facing the camera
    assert np.all(view["principal_curvature"] == 0.0)
    assert np.all(view["surface"] == 5)  # wall z+
    assert not view["edge_occlusion"].any()
    assert np.all(view["keypoints3d"] == 0.0)


def test_empty_room_corner_has_creases_but_no_occlusion_edges() -> None:
    scene = make_scene(half=(2.0, 1.5, 2.0))
    view = render_view(scene, _camera((0.0, 1.6, 0.0), (2.0, 0.4, 2.0)), SIZE)
    assert len(np.unique(view["surface"])) >= 3  # two walls and the floor meet in view
    assert not view["edge_occlusion"].any()
    assert view["keypoints3d"].max() == 1.0  # the corner where three planes meet


def _sphere_scene(r: float = 0.5):
    prim = Primitive("sphere", 0, (0.0, 1.5, 1.0), (r, r, r), 0.0, GREY)
    obj = SceneObject(0, (0.0, 1.0), r, 2.0)
    return make_scene(half=(2.0, 1.5, 2.0), objects=(obj,), primitives=(prim,))


def test_sphere_curvature_normals_and_depth() -> None:
    r = 0.5
    scene = _sphere_scene(r)
    cam = _camera((0.0, 1.5, -1.5), (0.0, 1.5, 1.0))
    view = render_view(scene, cam, SIZE)
    on = view["surface"] == 6
    assert 20 < on.sum() < SIZE * SIZE
    k = view["principal_curvature"] * CURVATURE_SATURATION
    # the sphere's middle, away from its silhouette: (1/r, 1/r) within the neighbourhood estimate's error
    inner = binary_erosion(on, iterations=2)
    assert inner.sum() >= 9
    assert np.allclose(k[:, inner], 1.0 / r, rtol=0.15)
    # the wall around the silhouette is not bent by the sphere (the smoothing stops at the occlusion)
    ring = binary_dilation(on, iterations=3) & ~on
    ring[: SIZE // 4] = ring[-SIZE // 4:] = False  # (the floor's and ceiling's creases come in at the edges)
    assert ring.sum() > 10 and np.abs(k[:, ring]).max() < 1e-6
    # hit points lie on the sphere, normals are (p - c) / r in the camera frame
    world = view["points"] @ cam.rotation.T + cam.centre
    centre = np.array([0.0, 1.5, 1.0])
    assert np.allclose(np.linalg.norm(world[on] - centre, axis=-1), r, atol=1e-9)
    n_cam = view["normal"].transpose(1, 2, 0)
    assert np.allclose(n_cam[on], ((world[on] - centre) / r) @ cam.rotation, atol=1e-6)
    # the central pixels see the sphere's front at distance 2.5 - r
    mid = SIZE // 2
    assert np.isclose(view["depth_euclidean"][0, mid - 1:mid + 1, mid - 1:mid + 1].min(), 2.5 - r, atol=0.01)


def test_large_sphere_middle_is_one_over_r() -> None:
    r = 0.8
    view = render_view(_sphere_scene(r), _camera((0.0, 1.5, -1.5), (0.0, 1.5, 1.0)), 32)
    k = view["principal_curvature"][:, 14:18, 14:18] * CURVATURE_SATURATION
    assert np.allclose(k, 1.0 / r, rtol=0.05)


def test_cylinder_side_curvature_is_one_over_r_and_zero() -> None:
    r = 0.3
    prim = Primitive("cylinder", 0, (0.0, 0.0, 1.0), (r, 2.0, r), 0.0, GREY)
    scene = make_scene(half=(2.0, 1.5, 2.0), objects=(SceneObject(4, (0.0, 1.0), r, 2.0),), primitives=(prim,))
    view = render_view(scene, _camera((0.0, 1.2, -1.5), (0.0, 1.2, 1.0)), SIZE)
    on = binary_erosion(view["surface"] == 6, iterations=2)  # the side, away from its silhouette
    on[-SIZE // 3:] = False  # and from its foot's crease with the floor
    assert on.sum() > 10
    k = view["principal_curvature"] * CURVATURE_SATURATION
    assert np.allclose(k[0][on], 1.0 / r, rtol=0.1)
    assert np.allclose(k[1][on], 0.0, atol=0.1)


def test_wall_floor_crease_is_a_concave_band() -> None:
    """Looking down at the far wall's foot: k2 < 0 in a band around the crease, k1 = 0, flat elsewhere."""
    scene = make_scene(half=(2.0, 1.5, 2.0))
    view = render_view(scene, _camera((0.0, 1.0, -1.0), (0.0, 0.0, 2.0)), 32)
    k = view["principal_curvature"] * CURVATURE_SATURATION
    column = view["surface"][:, 16]
    crease = int(np.argmax(column == 2))  # first floor row below the wall
    assert (column[:crease] == 5).all() and (column[crease:] == 2).all()
    assert k[1, crease - 1:crease + 1, 16].max() < -1.0  # strongly concave at the crease
    assert np.abs(k[0]).max() < 1e-6  # the other direction is straight
    assert np.abs(k[:, :crease - 6]).max() < 1e-6 and np.abs(k[:, crease + 6:]).max() < 1e-6


def test_box_edges_are_convex_bands() -> None:
    box = Primitive("box", 0, (0.0, 1.2, 1.0), (0.5, 0.5, 0.5), 0.6, GREY)  # floating: no crease with the floor
    scene = make_scene(half=(2.0, 1.5, 2.0), objects=(SceneObject(1, (0.0, 1.0), 0.7, 1.7),), primitives=(box,))
    view = render_view(scene, _camera((0.3, 2.2, -0.8), (0.0, 1.2, 1.0)), 32)
    on = view["surface"] == 6
    k = view["principal_curvature"] * CURVATURE_SATURATION
    assert k[0][on].max() > 2.0  # the edges between visible faces bend outwards
    inner = binary_erosion(on)  # (a silhouette's corner pixel has only one-sided differences: noisy)
    assert k[1][inner].min() > -0.25  # and nowhere inwards (up to the estimate's noise, 5% of the scale)
    assert (np.abs(k[0][on]) < 1e-6).any()  # the middle of a face is flat


def test_occlusion_edges_are_the_sphere_silhouette() -> None:
    scene = _sphere_scene()
    view = render_view(scene, _camera((0.0, 1.5, -1.5), (0.0, 1.5, 1.0)), SIZE)
    surface = view["surface"]
    edges = view["occlusion_boundary"]
    on = surface == 6
    padded = np.pad(~on, 1, constant_values=False)
    touches_wall = padded[:-2, 1:-1] | padded[2:, 1:-1] | padded[1:-1, :-2] | padded[1:-1, 2:]
    silhouette = on & touches_wall
    assert silhouette.sum() > 8
    assert np.array_equal(edges, silhouette)  # exactly the near side of the depth jump


def test_object_standing_on_the_floor_has_occlusion_edges_only_where_it_occludes() -> None:
    h = 0.4
    prim = Primitive("box", 0, (0.0, h, 1.0), (h, h, h), 0.3, GREY)
    scene = make_scene(half=(2.0, 1.5, 2.0), objects=(SceneObject(1, (0.0, 1.0), 0.6, 2 * h),), primitives=(prim,))
    view = render_view(scene, _camera((0.0, 1.6, -1.2), (0.0, 0.3, 1.0)), 32)
    edges = view["occlusion_boundary"]
    on = view["surface"] == 6
    assert edges.any()
    assert not edges[~on].any()  # the floor and walls occlude nothing
    # the box's lowest visible row touches the floor: a contact, not an occlusion
    cols = np.nonzero(on.any(0))[0]
    bottom = [np.nonzero(on[:, c])[0].max() for c in cols[2:-2]]
    assert not any(edges[r, c] for r, c in zip(bottom, cols[2:-2], strict=True))
