"""Ray casting against hand-built scenes, including rays parallel to an axis (zero direction components)."""

from __future__ import annotations

import numpy as np
import pytest

from taskonomy.world import Camera, Material, Primitive, SceneObject, make_scene, render_view
from taskonomy.world._raycast import cast, closest, occluded

GREY = Material(0, (0.6, 0.6, 0.6), (0.6, 0.6, 0.6), 1.0)
AXES = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.float64)


def test_axis_aligned_rays_hit_the_right_wall_at_the_right_distance() -> None:
    scene = make_scene(half=(2.0, 1.5, 3.0))
    o = np.array([0.5, 1.0, -1.0])
    t, face = closest(scene, o, AXES)
    assert np.allclose(t, [1.5, 2.5, 2.0, 1.0, 4.0, 2.0])
    assert face.tolist() == [1, 0, 3, 2, 5, 4]  # x+, x-, ceiling, floor, z+, z-
    hit = cast(scene, o, AXES)
    assert np.all(np.isfinite(hit.point)) and np.allclose(hit.normal, -AXES)


@pytest.mark.parametrize("kind,size", [("sphere", (0.3, 0.3, 0.3)), ("box", (0.3, 0.2, 0.4)),
                                       ("cylinder", (0.3, 1.0, 0.3))])
def test_rays_with_zero_components_hit_primitives(kind: str, size: tuple[float, float, float]) -> None:
    centre = (0.0, 0.0, 1.0) if kind == "cylinder" else (0.0, 1.0, 1.0)
    prim = Primitive(kind, 0, centre, size, 0.0, GREY)
    scene = make_scene(half=(2.0, 1.5, 2.0), objects=(SceneObject(0, (0.0, 1.0), 0.4, 1.3),), primitives=(prim,))
    o = np.array([0.0, 0.5 if kind == "cylinder" else 1.0, -1.0])
    along_z = np.array([[0.0, 0.0, 1.0]])  # parallel to two axes
    t, surface = closest(scene, o, along_z)
    front = {"sphere": 2.0 - 0.3, "box": 2.0 - 0.4, "cylinder": 2.0 - 0.3}[kind]
    assert surface[0] == 6 and np.isclose(t[0], front)
    assert not occluded(scene, o, along_z, np.array([0.1]))[0] and occluded(scene, o, along_z, np.array([3.0]))[0]
    # a parallel ray that passes under the sphere or box, or over the cylinder, reaches the wall
    miss = o + np.array([0.0, 0.6 if kind == "cylinder" else -0.45, 0.0])
    t, surface = closest(scene, miss, along_z)
    assert surface[0] == 5 and np.isclose(t[0], 3.0)
    # a vertical ray down onto the object's top
    top = np.array([[0.0, -1.0, 0.0]])
    t, surface = closest(scene, np.array([0.0, 2.5, 1.0]), top)
    assert surface[0] == 6 and np.isfinite(t[0]) and t[0] > 0


def test_a_camera_with_zero_roll_and_axis_aligned_rays_renders_finite_labels() -> None:
    """A hand-built camera looking exactly along +z: its centre pixel ray has zero x and y components."""
    scene = make_scene(half=(2.0, 1.5, 2.0))
    cam = Camera(np.diag([1.0, -1.0, -1.0]) @ np.diag([1.0, 1.0, -1.0]), np.array([0.0, 1.5, 0.0]), 60.0)
    view = render_view(scene, cam, 15)  # odd size: the centre pixel's ray is exactly (0, 0, 1)
    assert np.all(np.isfinite(view["depth_zbuffer"])) and view["depth_zbuffer"].min() > 0
    assert view["surface"][7, 7] == 5 and np.isclose(view["depth_zbuffer"][0, 7, 7], 2.0)
