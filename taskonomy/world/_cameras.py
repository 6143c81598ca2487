"""Camera placement: the views of one sample, each placed so that it shows a scene.

Views (all cameras inside the room and outside every object):

* ``rgb``: the main view; every dense label belongs to it. It is placed at eye height, usually
  aimed at an object, and accepted only if no single surface fills more than
  :data:`MAX_SURFACE_SHARE` of it and, when the room has objects, one is in view
  (:data:`MIN_OBJECT_SHARE`); otherwise it is drawn again (up to :data:`MAX_TRIES` times, then
  the best try is kept).
* ``view1``, ``view2``: the main camera moved by 0.15-0.5 m and turned by about 7 degrees per
  axis: the egomotion triplet is ``(rgb, view1, view2)``.
* ``view_fix``: a camera 0.3-1 m away that looks at the 3D point seen at the main image's centre
  (the fixated pair ``(rgb, view_fix)``).
* ``view_nonfix``: a camera 0.4-1.2 m away, turned by 10-35 degrees of yaw, that need not look at
  a common point but still sees part of the main view's scene (the non-fixated pair
  ``(rgb, view_nonfix)``). It draws from its own random stream, ``(seed, index, 1)``.
* ``match_a``, ``match_b``: narrow-field patches; ``match_a`` looks from the main camera at a
  visible 3D point ``P``; ``match_b`` looks from elsewhere at ``P`` (positive, target 1) or at a
  different visible point at least 0.4 m away (negative, target 0), each with probability 1/2.

Every full-field view (not the patches) must show at least two surfaces by the same rule as the
main view. The views are judged on a coarse grid of :data:`PROBE_GRID` x :data:`PROBE_GRID`
rays, which costs little next to rendering them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from taskonomy.contract.world import WorldSpec
from taskonomy.world._geometry import focal_length, look_at, mul3, pixel_rays, rotvec_to_matrix, yaw_pitch_roll
from taskonomy.world._raycast import closest, segments_blocked
from taskonomy.world._scene import N_ROOM_FACES, Scene, sample_scene

F64 = NDArray[np.float64]

#: Largest share of a full-field view that one surface may cover.
MAX_SURFACE_SHARE = 0.9
#: Smallest share of the main view that objects must cover when the room has any.
MIN_OBJECT_SHARE = 0.02
#: Draws of a view before the best one is kept.
MAX_TRIES = 12
#: Side of the ray grid on which a view is judged.
PROBE_GRID = 16


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


@lru_cache(maxsize=8)
def _probe_rays(fov_deg: float) -> F64:
    rays = pixel_rays(PROBE_GRID, fov_deg)
    return rays / np.linalg.norm(rays, axis=-1, keepdims=True)


def view_shares(scene: Scene, cam: Camera) -> tuple[float, float]:
    """``(largest surface share, object share)`` of a view, on a coarse grid of rays."""
    d = mul3(_probe_rays(cam.fov_deg), cam.rotation.T)
    _, surface = closest(scene, cam.centre, d)
    counts = np.bincount(surface, minlength=scene.n_surfaces)
    return float(counts.max()) / len(surface), float(counts[N_ROOM_FACES:].sum()) / len(surface)


def _score(scene: Scene, cam: Camera, *, need_object: bool) -> float:
    """How far a view is from acceptable (0: acceptable; lower is better)."""
    dominant, objects = view_shares(scene, cam)
    miss = max(0.0, dominant - MAX_SURFACE_SHARE)
    if need_object:
        miss += max(0.0, MIN_OBJECT_SHARE - objects)
    return miss


def _probe(scene: Scene, cam: Camera, pixels: F64, size: int) -> F64:
    """World points seen through sub-pixel positions ``(M, 2)`` (column, row) of a camera."""
    f = focal_length(size, cam.fov_deg)
    d = np.stack([(pixels[:, 0] - size / 2) / f, (pixels[:, 1] - size / 2) / f, np.ones(len(pixels))], -1)
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    d_world = mul3(d, cam.rotation.T)
    t, _ = closest(scene, cam.centre, d_world)
    return cam.centre + t[:, None] * d_world


def _visible(scene: Scene, centres: F64, points: F64) -> NDArray[np.bool_]:
    """Whether each point is seen unobstructed from each camera centre, pair by pair (either
    argument may be one point, ``(3,)``, shared by all pairs), and at least 0.3 m away."""
    centres, points = np.broadcast_arrays(np.atleast_2d(centres), np.atleast_2d(points))
    far = np.linalg.norm(points - centres, axis=-1) > 0.3
    return far & ~segments_blocked(scene, centres, points)


def _in_view(cam: Camera, points: F64, *, margin: float = 0.9) -> NDArray[np.bool_]:
    """Whether world points ``(M, 3)`` project inside the central ``margin`` of a camera's image."""
    x = (points - cam.centre) @ cam.rotation
    tan = np.tan(np.radians(cam.fov_deg) / 2) * margin
    z = np.maximum(x[:, 2], 1e-9)
    return (x[:, 2] > 0.1) & (np.abs(x[:, 0] / z) < tan) & (np.abs(x[:, 1] / z) < tan)


def _random_dirs(rng: np.random.Generator, n: int, *, vertical: float = 0.3) -> F64:
    d = rng.normal(size=(n, 3)) * np.array([1.0, vertical, 1.0])
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def _pick(tries: Iterator[tuple[float, Camera]]) -> Camera | None:
    """The first camera of ``tries`` (drawn lazily: ``(score, camera)`` pairs, see :func:`_score`)
    that is acceptable, else the one closest to acceptable; None when nothing was tried."""
    best: tuple[float, Camera] | None = None
    for score, cam in tries:
        if score == 0.0:
            return cam
        if best is None or score < best[0]:
            best = (score, cam)
    return None if best is None else best[1]


def _main_camera(scene: Scene, rng: np.random.Generator, fov: float) -> Camera:
    """A free position at eye height, usually aimed at an object; redrawn until the view is good."""
    cand = np.column_stack([rng.uniform(-1, 1, 32) * (scene.half[0] - 0.4), rng.uniform(1.0, 1.7, 32),
                            rng.uniform(-1, 1, 32) * (scene.half[2] - 0.4)])
    ok = np.nonzero(scene.free(cand, margin=0.3))[0]
    need_object = bool(scene.objects)

    def tries() -> Iterator[tuple[float, Camera]]:
        for attempt in range(MAX_TRIES):
            c0 = cand[ok[attempt % len(ok)]] if len(ok) else np.array([0.0, 1.3, 0.0])
            if scene.objects and (attempt > 0 or rng.random() < 0.8):
                o = scene.objects[int(rng.integers(len(scene.objects)))]
                aim = np.array([o.position[0], 0.5 * o.height, o.position[1]]) - c0
                yaw = float(np.arctan2(aim[0], aim[2])) + float(rng.normal(0, 0.2))
                pitch = float(np.arctan2(aim[1], np.hypot(aim[0], aim[2]))) + float(rng.normal(0, 0.08))
            else:
                yaw = float(rng.uniform(-np.pi, np.pi))
                pitch = float(rng.uniform(-0.35, 0.1))
            rot = yaw_pitch_roll(yaw, float(np.clip(pitch, -0.7, 0.25)), float(rng.normal(0, 0.04)))
            cam = Camera(rot, c0, fov)
            yield _score(scene, cam, need_object=need_object), cam

    cam = _pick(tries())
    assert cam is not None
    return cam


def _small_motion(scene: Scene, rng: np.random.Generator, main: Camera) -> Camera:
    """An egomotion view: the main camera moved by 0.15-0.5 m and turned a little."""

    def tries() -> Iterator[tuple[float, Camera]]:
        for _ in range(MAX_TRIES // 3):
            step = _random_dirs(rng, 1)[0] * rng.uniform(0.15, 0.5)
            turn = rotvec_to_matrix(rng.normal(0, 0.12, size=3))
            c = main.centre + step
            for _ in range(4):
                if scene.free(c[None], margin=0.2)[0]:
                    break
                step = step / 2
                c = main.centre + step
            else:
                c = main.centre
            cam = Camera(main.rotation @ turn, c, main.fov_deg)
            yield _score(scene, cam, need_object=False), cam

    cam = _pick(tries())
    assert cam is not None
    return cam


def _fixated(scene: Scene, rng: np.random.Generator, main: Camera, fix: F64) -> Camera:
    """A camera 0.3-1 m from the main one that looks at the main view's centre point."""
    cand = main.centre + _random_dirs(rng, 8) * rng.uniform(0.3, 1.0, size=(8, 1))
    roll = float(rng.normal(0, 0.04))
    ok = np.nonzero(scene.free(cand, margin=0.2) & _visible(scene, cand, fix))[0]
    cams = (Camera(look_at(c, fix, roll=roll), c, main.fov_deg) for c in [cand[i] for i in ok] or [main.centre])
    cam = _pick((_score(scene, c, need_object=False), c) for c in cams)
    assert cam is not None
    return cam


def _nonfixated(scene: Scene, rng: np.random.Generator, main: Camera, seen: F64) -> Camera:
    """A camera 0.4-1.2 m from the main one, turned by 10-35 degrees of yaw, that sees at least two
    of the main view's ``seen`` points (so the pair overlaps without fixating a common point)."""

    def tries() -> Iterator[tuple[float, Camera]]:
        for _ in range(MAX_TRIES):
            step = _random_dirs(rng, 1, vertical=0.2)[0] * rng.uniform(0.4, 1.2)
            c = main.centre + step
            if not scene.free(c[None], margin=0.2)[0]:
                continue
            yaw = float(rng.choice([-1.0, 1.0]) * rng.uniform(np.radians(10), np.radians(35)))
            turn = rotvec_to_matrix(np.array([rng.normal(0, 0.08), yaw, rng.normal(0, 0.04)]))
            cam = Camera(main.rotation @ turn, c, main.fov_deg)
            shared = int(_visible(scene, c, seen[_in_view(cam, seen)]).sum())
            yield _score(scene, cam, need_object=False) + (0.0 if shared >= 2 else 0.5), cam

    cam = _pick(tries())
    if cam is None:  # no free position drawn: a turn on the spot
        return Camera(main.rotation @ rotvec_to_matrix(np.array([0.0, np.radians(20), 0.0])), main.centre,
                      main.fov_deg)
    return cam


def sample_world(spec: WorldSpec, index: int, rng: np.random.Generator | None = None) -> SampledWorld:
    """Draw the scene and all cameras of sample ``index`` (see the module docstring)."""
    rng = rng if rng is not None else np.random.default_rng([spec.seed, index])
    scene = sample_scene(rng, min_objects=spec.min_objects, max_objects=spec.max_objects)
    size, fov = spec.size, spec.fov_deg
    main = _main_camera(scene, rng, fov)
    cams: dict[str, Camera] = {"rgb": main}
    for key in ("view1", "view2"):
        cams[key] = _small_motion(scene, rng, main)

    # probe points: the main view's centre (fixation) and random pixels (matching)
    px = np.vstack([[size / 2, size / 2], rng.uniform(0.1 * size, 0.9 * size, size=(9, 2))])
    probes = _probe(scene, main, px, size)
    fix = probes[0]
    cams["view_fix"] = _fixated(scene, rng, main, fix)

    p_match = probes[1]
    positive = bool(rng.random() < 0.5)
    far = np.linalg.norm(probes[2:] - p_match, axis=-1)
    q = probes[2 + int(np.argmax(far > 0.4))] if (far > 0.4).any() else probes[2 + int(far.argmax())]
    target_b = p_match if positive else q
    cand = main.centre + _random_dirs(rng, 8) * rng.uniform(0.3, 1.2, size=(8, 1))
    ok = np.nonzero(scene.free(cand, margin=0.2) & _visible(scene, cand, target_b))[0]
    c_b = cand[ok[0]] if len(ok) else main.centre
    pfov = spec.patch_fov_deg
    cams["match_a"] = Camera(look_at(main.centre, p_match, roll=float(rng.normal(0, 0.04))), main.centre, pfov)
    cams["match_b"] = Camera(look_at(c_b, target_b, roll=float(rng.normal(0, 0.04))), c_b, pfov)
    # the non-fixated view draws from its own stream, so adding it changed no other draw
    cams["view_nonfix"] = _nonfixated(scene, np.random.default_rng([spec.seed, index, 1]), main, probes)
    return SampledWorld(scene, cams, positive, fix, np.stack([p_match, target_b]))
