"""Scene sampling: a textured box room of one of several types, 2-6 objects, a light.

Every random draw comes from the ``numpy.random.Generator`` passed in, so a scene is a pure
function of the generator's seed. Rooms are axis-aligned in the world frame (``y`` up, floor at
``y = 0``, centred on ``x = z = 0``); objects stand on the floor.

Room types have characteristic objects (the first listed is always present) and palettes (wall
hue, floor pattern), so the scene class is visible in the image, as in the real Taskonomy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from taskonomy.tasks._constants import OBJECT_CATEGORIES, ROOM_TYPES

F64 = NDArray[np.float64]

#: Texture patterns (see :func:`taskonomy.world._shading.albedo`).
PATTERNS: tuple[str, ...] = ("plain", "stripes", "checker", "tiles", "planks")
PRIMITIVE_KINDS: tuple[str, ...] = ("sphere", "box", "cylinder")
#: Room surfaces (surface ids 0..5) and their semantic class id (index into SEMANTIC_CLASSES).
ROOM_FACES: tuple[str, ...] = ("wall_x-", "wall_x+", "floor", "ceiling", "wall_z-", "wall_z+")
ROOM_FACE_CLASS: tuple[int, ...] = (0, 0, 1, 2, 0, 0)
N_ROOM_FACES = len(ROOM_FACES)


@dataclass(frozen=True)
class Material:
    """A procedural texture: ``albedo = a + (b - a) * pattern(uv * scale)``."""

    pattern: int
    color_a: tuple[float, float, float]
    color_b: tuple[float, float, float]
    scale: float


@dataclass(frozen=True)
class Primitive:
    """One analytical shape. ``centre`` is the sphere/box centre or the cylinder's base centre.

    ``size`` is ``(r, r, r)`` for a sphere, the half extents for a box (rotated by ``yaw`` about
    the vertical axis) and ``(r, height, r)`` for a vertical cylinder.
    """

    kind: str
    obj: int
    centre: tuple[float, float, float]
    size: tuple[float, float, float]
    yaw: float
    material: Material


@dataclass(frozen=True)
class RoomStyle:
    objects: dict[str, float]
    wall_hue: tuple[float, float]
    wall_sat: tuple[float, float]
    wall_patterns: tuple[str, ...]
    floor_hue: tuple[float, float]
    floor_patterns: tuple[str, ...]


ROOM_STYLES: dict[str, RoomStyle] = {
    "bedroom": RoomStyle({"bed": 4, "lamp": 2, "cabinet": 2, "vase": 1, "ball": 0.5},
                         (0.85, 0.98), (0.15, 0.35), ("plain", "stripes"), (0.06, 0.10), ("planks",)),
    "kitchen": RoomStyle({"table": 4, "barrel": 2, "crate": 1.5, "vase": 1.5, "cabinet": 1},
                         (0.12, 0.18), (0.2, 0.45), ("tiles", "plain"), (0.0, 1.0), ("checker", "tiles")),
    "office": RoomStyle({"table": 3, "cabinet": 3, "lamp": 2, "crate": 1},
                        (0.55, 0.65), (0.05, 0.2), ("plain",), (0.55, 0.65), ("plain", "tiles")),
    "living_room": RoomStyle({"table": 3, "lamp": 2, "vase": 2, "ball": 1.5, "bed": 0.5},
                             (0.02, 0.08), (0.25, 0.5), ("stripes", "plain"), (0.05, 0.09), ("planks", "checker")),
    "bathroom": RoomStyle({"barrel": 3, "vase": 2, "cabinet": 2, "ball": 1},
                          (0.45, 0.55), (0.2, 0.45), ("tiles",), (0.45, 0.6), ("tiles", "checker")),
    "storage": RoomStyle({"crate": 4, "barrel": 3, "cabinet": 1.5, "ball": 1},
                         (0.08, 0.14), (0.05, 0.2), ("plain", "checker"), (0.0, 1.0), ("plain",)),
}
assert tuple(ROOM_STYLES) == ROOM_TYPES

#: Characteristic object colours (hue range) and patterns per category.
CATEGORY_HUES: dict[str, tuple[float, float]] = {
    "ball": (0.95, 1.05), "crate": (0.07, 0.11), "table": (0.04, 0.08), "lamp": (0.13, 0.17),
    "barrel": (0.0, 0.04), "bed": (0.58, 0.72), "cabinet": (0.25, 0.4), "vase": (0.75, 0.85),
}
CATEGORY_PATTERNS: dict[str, tuple[str, ...]] = {
    "ball": ("stripes", "checker"), "crate": ("planks", "tiles"), "table": ("planks", "plain"),
    "lamp": ("plain",), "barrel": ("stripes",), "bed": ("checker", "stripes", "plain"),
    "cabinet": ("plain", "tiles"), "vase": ("stripes", "plain"),
}
assert tuple(CATEGORY_HUES) == OBJECT_CATEGORIES


@dataclass(frozen=True)
class SceneObject:
    category: int
    position: tuple[float, float]  # x, z of the footprint centre
    radius: float  # footprint radius (for placement)
    height: float
    shape: int = 0  # 0: the category's first shape, 1: its alternative (see VARIED_SHAPES)


@dataclass(frozen=True)
class Scene:
    """A sampled room: geometry, materials, light and room type."""

    room_type: int
    half: tuple[float, float, float]  # room half extents (x, y, z); the room spans y in [0, 2 * half_y]
    room_materials: tuple[Material, ...]  # one per room face
    objects: tuple[SceneObject, ...]
    primitives: tuple[Primitive, ...]
    light: tuple[float, float, float]
    packed: dict[str, F64] = field(default_factory=dict, compare=False, repr=False)

    @property
    def centre(self) -> F64:
        return np.array([0.0, self.half[1], 0.0])

    @property
    def n_surfaces(self) -> int:
        return N_ROOM_FACES + len(self.primitives)

    def surface_class(self) -> NDArray[np.int64]:
        """Semantic class id of every surface id (room faces, then primitives)."""
        obj_cls = [3 + self.objects[p.obj].category for p in self.primitives]
        return np.array(list(ROOM_FACE_CLASS) + obj_cls, dtype=np.int64)

    def surface_object(self) -> NDArray[np.int64]:
        """Object index of every surface id (-1 for the room)."""
        return np.array([-1] * N_ROOM_FACES + [p.obj for p in self.primitives], dtype=np.int64)

    def inside_object(self, points: F64, *, margin: float) -> NDArray[np.bool_]:
        """Whether each point ``(N, 3)`` lies within ``margin`` of an object's bounding cylinder."""
        pts = np.atleast_2d(points)
        if not self.objects:
            return np.zeros(len(pts), dtype=bool)
        obj = self.packed.get("objects")
        if obj is None:  # x, z, radius, height of every object, as one array
            obj = self.packed["objects"] = np.array([[*o.position, o.radius, o.height] for o in self.objects])
        d = np.hypot(pts[:, 0, None] - obj[:, 0], pts[:, 2, None] - obj[:, 1])
        return np.any((d < obj[:, 2] + margin) & (pts[:, 1, None] < obj[:, 3] + margin), axis=1)

    def inside_room(self, points: F64, *, margin: float) -> NDArray[np.bool_]:
        pts = np.atleast_2d(points)
        h = np.asarray(self.half)
        return (
            (np.abs(pts[:, 0]) < h[0] - margin) & (np.abs(pts[:, 2]) < h[2] - margin)
            & (pts[:, 1] > margin) & (pts[:, 1] < 2 * h[1] - margin)
        )

    def free(self, points: F64, *, margin: float = 0.25) -> NDArray[np.bool_]:
        """Points inside the room and away from every object (valid camera centres)."""
        return self.inside_room(points, margin=margin) & ~self.inside_object(points, margin=margin)


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    h = h % 1.0
    i = int(h * 6.0) % 6
    f = h * 6.0 - int(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]))


def _material(rng: np.random.Generator, hue: tuple[float, float], sat: tuple[float, float],
              val: tuple[float, float], patterns: tuple[str, ...], scale: tuple[float, float]) -> Material:
    h = float(rng.uniform(*hue))
    s = float(rng.uniform(*sat))
    v = float(rng.uniform(*val))
    a = _hsv(h, s, v)
    # the second colour: same hue, clearly different value (texture contrast)
    v2 = v - 0.35 if v > 0.5 else v + 0.35
    b = _hsv(h + float(rng.uniform(-0.03, 0.03)), min(1.0, s * 1.2), v2)
    pattern = PATTERNS.index(patterns[int(rng.integers(len(patterns)))])  # = rng.choice(patterns), 5x cheaper
    return Material(pattern, a, b, float(rng.uniform(*scale)))


#: Categories drawn in one of two shapes (the second with probability 1/2), so that a category does
#: not decide its surfaces' curvature or normals: round or rectangular table tops, round cabinets,
#: box or cylinder lamp shades, cylindrical vases. Balls, barrels, crates and beds keep one shape.
VARIED_SHAPES: tuple[str, ...] = ("table", "cabinet", "lamp", "vase")


def _object_primitives(cat: str, obj: int, x: float, z: float, rng: np.random.Generator,
                       mat: Material, mat2: Material, *, alternative: bool = False
                       ) -> tuple[list[Primitive], float, float]:
    """Primitives of one object of category ``cat`` at floor position ``(x, z)``: (prims, radius, height).

    ``alternative`` picks the second shape of a category in :data:`VARIED_SHAPES`; the draws from
    ``rng`` are the same either way.
    """
    u = rng.uniform
    yaw = float(u(0, np.pi))
    if cat == "ball":
        r = float(u(0.15, 0.35))
        return [Primitive("sphere", obj, (x, r, z), (r, r, r), 0.0, mat)], r, 2 * r
    if cat == "crate":
        h = float(u(0.15, 0.3))
        return [Primitive("box", obj, (x, h, z), (h, h, h), yaw, mat)], h * 1.42, 2 * h
    if cat == "table":
        w, d, top = float(u(0.4, 0.7)), float(u(0.25, 0.45)), float(u(0.65, 0.8))
        leg = float(u(0.04, 0.08))
        legs = Primitive("cylinder", obj, (x, 0.0, z), (leg, top - 0.06, leg), 0.0, mat2)
        if alternative:  # a round top
            r = 0.5 * (w + d)
            return [Primitive("cylinder", obj, (x, top - 0.06, z), (r, 0.06, r), 0.0, mat), legs], r, top
        return [Primitive("box", obj, (x, top - 0.03, z), (w, 0.03, d), yaw, mat), legs], float(np.hypot(w, d)), top
    if cat == "lamp":
        h, r = float(u(1.1, 1.6)), float(u(0.13, 0.2))
        pole = Primitive("cylinder", obj, (x, 0.0, z), (0.03, h, 0.03), 0.0, mat2)
        if alternative:  # a cylindrical shade
            return [pole, Primitive("cylinder", obj, (x, h - 0.2 * r, z), (r, 1.6 * r, r), 0.0, mat)], r, h + 1.4 * r
        return [pole, Primitive("sphere", obj, (x, h + r * 0.8, z), (r, r, r), 0.0, mat)], r, h + 1.8 * r
    if cat == "barrel":
        r, h = float(u(0.2, 0.35)), float(u(0.6, 1.0))
        return [Primitive("cylinder", obj, (x, 0.0, z), (r, h, r), 0.0, mat)], r, h
    if cat == "bed":
        w, d, h = float(u(0.5, 0.8)), float(u(0.95, 1.05)), float(u(0.2, 0.28))
        c, s = np.cos(yaw), np.sin(yaw)
        hx, hz = x + s * (d - 0.04), z + c * (d - 0.04)  # headboard at the bed's local +z end
        return [Primitive("box", obj, (x, h, z), (w, h, d), yaw, mat),
                Primitive("box", obj, (float(hx), 0.5, float(hz)), (w, 0.5, 0.04), yaw, mat2)], \
            float(np.hypot(w, d)), 1.0
    if cat == "cabinet":
        w, d, h = float(u(0.25, 0.5)), float(u(0.2, 0.3)), float(u(0.6, 1.0))
        if alternative:  # a round cabinet
            r = 0.5 * (w + d)
            return [Primitive("cylinder", obj, (x, 0.0, z), (r, 2 * h, r), 0.0, mat)], r, 2 * h
        return [Primitive("box", obj, (x, h, z), (w, h, d), yaw, mat)], float(np.hypot(w, d)), 2 * h
    if cat == "vase":
        r = float(u(0.12, 0.2))
        neck = Primitive("cylinder", obj, (x, 1.5 * r, z), (0.4 * r, 1.3 * r, 0.4 * r), 0.0, mat2)
        if alternative:  # a cylindrical body
            return [Primitive("cylinder", obj, (x, 0.0, z), (r, 1.8 * r, r), 0.0, mat),
                    Primitive("cylinder", obj, (x, 1.8 * r, z), (0.4 * r, r, 0.4 * r), 0.0, mat2)], r, 2.8 * r
        return [Primitive("sphere", obj, (x, r, z), (r, r, r), 0.0, mat), neck], r, 2.8 * r
    raise AssertionError(cat)


def sample_scene(rng: np.random.Generator, *, min_objects: int = 2, max_objects: int = 6,
                 shapes: np.random.Generator | None = None) -> Scene:
    """Draw a room: type, size, palettes, objects (placed without overlap) and a ceiling light.

    ``shapes`` draws which shape each object of a category in :data:`VARIED_SHAPES` takes (default:
    a generator spawned from ``rng``, which draws nothing from ``rng`` itself).
    """
    shapes = shapes if shapes is not None else rng.spawn(1)[0]
    room_type = int(rng.integers(len(ROOM_TYPES)))
    style = ROOM_STYLES[ROOM_TYPES[room_type]]
    half = (float(rng.uniform(1.8, 3.2)), float(rng.uniform(1.2, 1.5)), float(rng.uniform(1.8, 3.2)))
    wall = _material(rng, style.wall_hue, style.wall_sat, (0.6, 0.9), style.wall_patterns, (2.0, 5.0))
    floor = _material(rng, style.floor_hue, (0.2, 0.6), (0.3, 0.7), style.floor_patterns, (1.5, 4.0))
    ceiling = _material(rng, (0.0, 1.0), (0.0, 0.08), (0.75, 0.95), ("plain", "tiles"), (1.0, 2.0))
    room_materials = (wall, wall, floor, ceiling, wall, wall)

    names = list(style.objects)
    weights = np.array([style.objects[n] for n in names], dtype=np.float64)
    n_obj = int(rng.integers(min_objects, max_objects + 1))
    cats = [names[0]] + [names[i] for i in rng.choice(len(names), size=max(0, n_obj - 1), p=weights / weights.sum())]
    cats = cats[:n_obj]

    objects: list[SceneObject] = []
    prims: list[Primitive] = []
    for cat in cats:
        ci = OBJECT_CATEGORIES.index(cat)
        hue = CATEGORY_HUES[cat]
        mat = _material(rng, hue, (0.4, 0.8), (0.45, 0.85), CATEGORY_PATTERNS[cat], (3.0, 8.0))
        mat2 = _material(rng, hue, (0.3, 0.6), (0.25, 0.5), ("plain",), (1.0, 1.0))
        alternative = cat in VARIED_SHAPES and bool(shapes.random() < 0.5)
        for _ in range(30):
            x = float(rng.uniform(-half[0] + 0.4, half[0] - 0.4))
            z = float(rng.uniform(-half[2] + 0.4, half[2] - 0.4))
            ps, radius, height = _object_primitives(cat, len(objects), x, z, rng, mat, mat2, alternative=alternative)
            fits = abs(x) + radius < half[0] - 0.05 and abs(z) + radius < half[2] - 0.05
            if fits and all(np.hypot(x - o.position[0], z - o.position[1]) > radius + o.radius + 0.1 for o in objects):
                objects.append(SceneObject(ci, (x, z), radius, height, shape=int(alternative)))
                prims.extend(ps)
                break
    light = (float(rng.uniform(-0.6, 0.6) * half[0]), 2 * half[1] - 0.15, float(rng.uniform(-0.6, 0.6) * half[2]))
    scene = Scene(room_type, half, room_materials, tuple(objects), tuple(prims), light)
    scene.packed.update(pack(scene))
    return scene


def _bounding_sphere(p: Primitive) -> tuple[tuple[float, float, float], float]:
    c, sz = p.centre, p.size
    if p.kind == "sphere":
        return c, sz[0]
    if p.kind == "box":
        return c, float(np.linalg.norm(sz))
    return (c[0], c[1] + sz[1] / 2, c[2]), float(np.hypot(sz[0], sz[1] / 2))


def pack(scene: Scene) -> dict[str, F64]:
    """Arrays of the scene for the compiled ray caster and the texture shader.

    ``prims`` has one row per primitive: kind code (index in :data:`PRIMITIVE_KINDS`), centre
    (3), size (3), cosine and sine of the yaw, bounding-sphere centre (3) and radius (see
    :mod:`taskonomy.world._raycast` for the column names); ``half`` the room's half extents;
    ``light`` the light's position; ``materials`` one row per surface id (room faces, then
    primitives): pattern code, scale, colour a (3), colour b (3).
    """
    out: dict[str, F64] = {}
    rows = []
    for p in scene.primitives:
        bc, br = _bounding_sphere(p)
        rows.append([PRIMITIVE_KINDS.index(p.kind), *p.centre, *p.size, np.cos(p.yaw), np.sin(p.yaw), *bc, br])
    out["prims"] = np.array(rows, dtype=np.float64).reshape(-1, 13)
    out["half"] = np.array(scene.half, dtype=np.float64)
    out["light"] = np.array(scene.light, dtype=np.float64)
    mats = list(scene.room_materials) + [p.material for p in scene.primitives]
    out["materials"] = np.array([[m.pattern, m.scale, *m.color_a, *m.color_b] for m in mats], dtype=np.float64)
    return out


def make_scene(*, half: tuple[float, float, float], objects: tuple[SceneObject, ...] = (),
               primitives: tuple[Primitive, ...] = (), light: tuple[float, float, float] | None = None,
               room_type: int = 0, materials: tuple[Material, ...] | None = None) -> Scene:
    """Build a scene by hand (known-answer tests, custom worlds): plain grey surfaces by default."""
    grey = Material(0, (0.7, 0.7, 0.7), (0.7, 0.7, 0.7), 1.0)
    mats = materials if materials is not None else (grey,) * N_ROOM_FACES
    lt = light if light is not None else (0.0, 2 * half[1] - 0.15, 0.0)
    scene = Scene(room_type, half, mats, objects, primitives, lt)
    scene.packed.update(pack(scene))
    return scene
