from __future__ import annotations

import numpy as np
import pytest

from taskonomy.world import matrix_to_rotvec, relative_pose, rotvec_to_matrix
from taskonomy.world._geometry import look_at, pixel_rays


@pytest.mark.parametrize("angle", [0.0, 1e-9, 0.3, 1.5, np.pi - 1e-6, np.pi])
def test_rotvec_round_trip(angle: float) -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        axis = rng.normal(size=3)
        rv = axis / np.linalg.norm(axis) * angle
        m = rotvec_to_matrix(rv)
        assert np.allclose(m @ m.T, np.eye(3), atol=1e-12)
        assert np.isclose(np.linalg.det(m), 1.0)
        assert np.allclose(rotvec_to_matrix(matrix_to_rotvec(m)), m, atol=1e-6)


def test_look_at_is_a_right_handed_camera_with_y_down() -> None:
    r = look_at(np.zeros(3), np.array([0.0, 0.0, 5.0]))
    assert np.allclose(r @ r.T, np.eye(3))
    assert np.isclose(np.linalg.det(r), 1.0)
    assert np.allclose(r[:, 2], [0, 0, 1])  # optical axis
    assert np.allclose(r[:, 1], [0, -1, 0])  # image y points down in the world
    assert np.allclose(np.cross(r[:, 1], r[:, 2]), r[:, 0])


def test_pixel_rays_have_unit_z_and_are_symmetric() -> None:
    rays = pixel_rays(8, 60.0)
    assert np.allclose(rays[:, 2], 1.0)
    assert np.isclose(rays[:, 0].mean(), 0.0) and np.isclose(rays[:, 1].mean(), 0.0)
    # the image border is at tan(fov / 2)
    assert np.isclose(np.abs(rays[:, 0]).max(), np.tan(np.radians(30)) * 7 / 8)


def test_relative_pose_maps_b_coordinates_to_a() -> None:
    rng = np.random.default_rng(1)
    r_a, r_b = rotvec_to_matrix(rng.normal(size=3)), rotvec_to_matrix(rng.normal(size=3))
    c_a, c_b = rng.normal(size=3), rng.normal(size=3)
    pose = relative_pose(r_a, c_a, r_b, c_b)
    x_world = rng.normal(size=3)
    x_a = r_a.T @ (x_world - c_a)
    x_b = r_b.T @ (x_world - c_b)
    assert np.allclose(rotvec_to_matrix(pose[:3]) @ x_b + pose[3:], x_a)


def test_rotvec_conversions_agree_with_scipy() -> None:
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(0)
    vecs = [rng.normal(size=3) * rng.uniform(0, np.pi) for _ in range(200)]
    vecs += [np.array([0.0, 0.0, np.pi - 1e-7]), np.array([1e-13, 0.0, 0.0]), np.zeros(3)]
    for rv in vecs:
        m = rotvec_to_matrix(rv)
        assert np.allclose(m, Rotation.from_rotvec(rv).as_matrix(), atol=1e-12)
        assert np.allclose(matrix_to_rotvec(m), Rotation.from_matrix(m).as_rotvec(), atol=1e-6)
