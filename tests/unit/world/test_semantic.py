"""The semantic labels as Taskonomy defines them: segment_semantic, class_object, class_scene."""

from __future__ import annotations

import numpy as np

from taskonomy.tasks import (
    FINE_OBJECT_CLASSES,
    OBJECT_CATEGORIES,
    ROOM_TYPES,
    SEMANTIC_FREQUENCIES,
    SEMANTIC_UNCERTAIN,
    rebalance_weights,
)
from taskonomy.world import Material, Primitive, SceneObject, WorldSpec, make_scene, render_sample, semantic_frequencies
from taskonomy.world._scene import PATTERNS, ROOM_STYLES
from taskonomy.world._semantic import CLASS_OBJECT_FLOOR, semantic_labels, uncertain_area

GREY = Material(0, (0.6, 0.6, 0.6), (0.6, 0.6, 0.6), 1.0)
BARREL, BALL = OBJECT_CATEGORIES.index("barrel"), OBJECT_CATEGORIES.index("ball")


def _two_object_scene(*, ball_pattern: str = "stripes", wall: Material = GREY, floor: Material = GREY):
    objects = (SceneObject(BARREL, (0.0, 1.0), 0.3, 1.0, pattern=PATTERNS.index("stripes")),
               SceneObject(BALL, (1.0, 1.0), 0.2, 0.4, pattern=PATTERNS.index(ball_pattern)))
    prims = (Primitive("cylinder", 0, (0.0, 0.0, 1.0), (0.3, 1.0, 0.3), 0.0, GREY),
             Primitive("sphere", 1, (1.0, 0.2, 1.0), (0.2, 0.2, 0.2), 0.0, GREY))
    mats = (wall, wall, floor, GREY, wall, wall)
    return make_scene(half=(2.0, 1.5, 2.0), objects=objects, primitives=prims, materials=mats)


def _surface(size: int, *, barrel: int, ball: int, floor: bool = True) -> np.ndarray:
    """A surface-id map: wall (5), floor (2) in the bottom half, the barrel (6) and ball (7) pixel counts."""
    s = np.full((size, size), 5, dtype=np.int64)
    if floor:
        s[size // 2:] = 2
    flat = s.ravel()
    flat[:barrel] = 6
    flat[size * size - ball:] = 7
    return s


def test_segment_semantic_is_background_and_categories_with_tiny_objects_uncertain() -> None:
    size = 32
    assert uncertain_area(32) == 0.004 * 32 * 32 and uncertain_area(16) == 3.0
    scene = _two_object_scene()
    sem = semantic_labels(scene, _surface(size, barrel=100, ball=4))["segment_semantic"]
    assert (sem.ravel()[:100] == 1 + BARREL).all()  # the barrel's category
    assert (sem.ravel()[-4:] == SEMANTIC_UNCERTAIN).all()  # 4 < 4.1 visible pixels: uncertain
    assert set(np.unique(sem)) == {SEMANTIC_UNCERTAIN, 0, 1 + BARREL}  # walls and floor are one background
    sem = semantic_labels(scene, _surface(size, barrel=100, ball=5))["segment_semantic"]
    assert (sem.ravel()[-5:] == 1 + BALL).all()


def test_class_object_is_fine_and_not_a_function_of_the_segmentation() -> None:
    surface = _surface(32, barrel=300, ball=100)
    a = semantic_labels(_two_object_scene(ball_pattern="stripes"), surface)
    b = semantic_labels(_two_object_scene(ball_pattern="checker"), surface)
    assert np.array_equal(a["segment_semantic"], b["segment_semantic"])
    assert not np.allclose(a["class_object"], b["class_object"])
    k = len(FINE_OBJECT_CLASSES)
    want = np.full(k, CLASS_OBJECT_FLOOR / k)
    want[FINE_OBJECT_CLASSES.index("barrel/stripes")] += 0.9 * 0.75
    want[FINE_OBJECT_CLASSES.index("ball/checker")] += 0.9 * 0.25
    assert np.allclose(b["class_object"], want, atol=1e-6)
    none = semantic_labels(_two_object_scene(), _surface(32, barrel=0, ball=0))["class_object"]
    assert np.allclose(none, 1.0 / k)
    assert len(FINE_OBJECT_CLASSES) == 22 and "table/round/planks" in FINE_OBJECT_CLASSES


def test_class_scene_is_the_posterior_given_what_is_in_view() -> None:
    cyan_plain = Material(PATTERNS.index("plain"), (0.5, 0.7, 0.7), (0.3, 0.5, 0.5), 1.0, hue=0.5, sat=0.3)
    scene = _two_object_scene(wall=cyan_plain)
    office, bathroom = ROOM_TYPES.index("office"), ROOM_TYPES.index("bathroom")
    # a cyan plain wall only: office and bathroom draw it equally likely (same hue range, plain 1/3 each)
    p = semantic_labels(scene, _surface(32, barrel=0, ball=0, floor=False))["class_scene"]
    want = np.zeros(len(ROOM_TYPES))
    want[[office, bathroom]] = 0.5
    assert np.allclose(p, want, atol=1e-6)
    # and a barrel: the bathroom's characteristic object (0.25 + 0.75 * 2.5 / 12) against the office's
    # (0.75 * 1 / 12.5)
    p = semantic_labels(scene, _surface(32, barrel=50, ball=0, floor=False))["class_scene"]
    bath, off = 0.25 + 0.75 * 2.5 / 12, 0.75 / 12.5
    assert np.isclose(p[bathroom], bath / (bath + off), atol=1e-6)
    assert np.isclose(p[office], off / (bath + off), atol=1e-6)


def test_palettes_overlap_so_no_wall_decides_the_room() -> None:
    """Every type shares part of its wall hue range and a wall pattern with another type."""
    for name, style in ROOM_STYLES.items():
        others = [s for n, s in ROOM_STYLES.items() if n != name]
        lo, hi = style.wall_hue
        assert any(set(style.wall_patterns) & set(o.wall_patterns)
                   and any((((h - lo) % 1.0) <= hi - lo) for h in np.linspace(*o.wall_hue, 50) % 1.0)
                   for o in others), name


def test_class_scene_is_soft_and_never_rules_out_the_true_room() -> None:
    spec = WorldSpec(seed=5, size=16)
    peaks = []
    for i in range(40):
        s = render_sample(spec, i)
        p = s["class_scene"]
        assert np.isclose(p.sum(), 1.0, atol=1e-6)
        room_type = int(np.random.default_rng([spec.seed, i]).integers(len(ROOM_TYPES)))  # the sampler's first draw
        assert p[room_type] > 0
        peaks.append(p.max())
    assert 0.5 < np.mean(peaks) < 0.95


def test_semantic_frequencies_agree_with_a_fresh_measurement() -> None:
    """The stored p_c against 150 samples of another seed: the background within 0.02, every object
    class within 0.04, and the rebalancing weights they give within 15%."""
    got = semantic_frequencies(WorldSpec(seed=1, size=32), 150)
    want = np.array(SEMANTIC_FREQUENCIES)
    assert np.isclose(want.sum(), 1.0, atol=1e-3)
    assert abs(got[0] - want[0]) < 0.02
    assert np.abs(got[1:] - want[1:]).max() < 0.04
    assert np.allclose(rebalance_weights(tuple(got)), rebalance_weights(), rtol=0.15)
