"""Scene sampling: a textured box room of one of several types, 2-6 objects, a light.

Every random draw comes from the ``numpy.random.Generator`` passed in, so a scene is a pure
function of the generator's seed. Rooms are axis-aligned in the world frame (``y`` up, floor at
``y = 0``, centred on ``x = z = 0``); objects stand on the floor.

Room types have characteristic objects (the first listed is always present) and palettes (wall
hue, saturation and pattern, floor hue and pattern). The palettes of some types overlap (a pink
wall may be a bedroom's or a living room's), so what is in view is evidence for the room type but
rarely decides it: ``class_scene`` is the exact posterior over the types given that evidence
(:func:`room_type_posterior`), as Taskonomy's is a Places classifier's softmax.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from taskonomy.tasks import (
    CATEGORY_PATTERNS,
    CATEGORY_SHAPES,
    OBJECT_CATEGORIES,
    ROOM_TYPES,
    fine_object_class,
)

F64 = NDArray[np.float64]

#: Texture patterns (see :func:`taskonomy.world._shading.albedo`).
PATTERNS: tuple[str, ...] = ("plain", "stripes", "checker", "tiles", "planks")
PRIMITIVE_KINDS: tuple[str, ...] = ("sphere", "box", "cylinder")
#: Room surfaces (surface ids 0..5); all of them are the semantic background (class 0).
ROOM_FACES: tuple[str, ...] = ("wall_x-", "wall_x+", "floor", "ceiling", "wall_z-", "wall_z+")
WALL_FACES: tuple[int, ...] = (0, 1, 4, 5)
FLOOR_FACE = 2
N_ROOM_FACES = len(ROOM_FACES)


@dataclass(frozen=True)
class Material:
    """A procedural texture: ``albedo = a + (b - a) * pattern(uv * scale)``.

    ``hue`` and ``sat`` are the drawn hue (in [0, 1)) and saturation of colour a: the evidence
    :func:`room_type_posterior` reads from a visible wall or floor.
    """

    pattern: int
    color_a: tuple[float, float, float]
    color_b: tuple[float, float, float]
    scale: float
    hue: float = 0.0
    sat: float = 0.0


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
    """A room type's generative model: category weights of its objects (the first is always
    present), uniform ranges of the wall hue (may wrap past 1) and saturation, the wall patterns,
    the floor hue range and patterns (each pattern equally likely)."""

    objects: dict[str, float]
    wall_hue: tuple[float, float]
    wall_sat: tuple[float, float]
    wall_patterns: tuple[str, ...]
    floor_hue: tuple[float, float]
    floor_patterns: tuple[str, ...]


def _mix(**boost: float) -> dict[str, float]:
    """A room type's category weights: the listed (characteristic) ones first, the first of them always
    present; every other category weight 1 (any object can stand in any room, as in real homes)."""
    return {**boost, **{c: 1.0 for c in OBJECT_CATEGORIES if c not in boost}}


#: Wall saturation range, the same for every room type (the hue and the pattern carry the evidence).
WALL_SAT: tuple[float, float] = (0.05, 0.45)
#: The room types' palettes overlap: the wall hues of bedroom / living room, living room / kitchen /
#: storage and office / bathroom share ranges, every pattern is used by several types, kitchens and
#: storage rooms draw any floor hue; with the objects (every category can stand in every room) they
#: shift the posterior without deciding it. Measured on 200 samples at 32 px (seed 0): mean
#: max-probability 0.87, mean entropy 0.29 nats (uniform: 1.79).
ROOM_STYLES: dict[str, RoomStyle] = {
    "bedroom": RoomStyle(_mix(bed=3, lamp=2, cabinet=2, vase=1.5),
                         (0.75, 1.1), WALL_SAT, ("plain", "stripes"),
                         (0.0, 0.2), ("planks", "plain", "tiles")),
    "kitchen": RoomStyle(_mix(table=3, barrel=2, crate=1.5, vase=1.5),
                         (0.0, 0.3), WALL_SAT, ("tiles", "plain", "checker"),
                         (0.0, 1.0), ("checker", "tiles", "planks")),
    "office": RoomStyle(_mix(table=2.5, cabinet=2.5, lamp=2, crate=1.5),
                        (0.35, 0.75), WALL_SAT, ("plain", "tiles", "stripes"),
                        (0.3, 0.8), ("plain", "tiles")),
    "living_room": RoomStyle(_mix(table=2.5, lamp=2, vase=2, ball=2),
                             (0.8, 1.2), WALL_SAT, ("stripes", "plain", "tiles"),
                             (0.0, 0.2), ("planks", "checker", "plain")),
    "bathroom": RoomStyle(_mix(barrel=2.5, vase=2, cabinet=2, ball=1.5),
                          (0.35, 0.75), WALL_SAT, ("tiles", "plain", "stripes"),
                          (0.3, 0.8), ("tiles", "checker", "plain")),
    "storage": RoomStyle(_mix(crate=3, barrel=2.5, cabinet=1.5, ball=1.5),
                         (0.0, 0.3), WALL_SAT, ("plain", "checker", "tiles"),
                         (0.0, 1.0), ("plain", "tiles", "planks")),
}
#: Range of the floor saturation (the same for every room type, so no evidence).
FLOOR_SAT: tuple[float, float] = (0.2, 0.6)
assert tuple(ROOM_STYLES) == ROOM_TYPES

#: Characteristic object colours (hue range) and patterns per category.
CATEGORY_HUES: dict[str, tuple[float, float]] = {
    "ball": (0.95, 1.05), "crate": (0.07, 0.11), "table": (0.04, 0.08), "lamp": (0.13, 0.17),
    "barrel": (0.0, 0.04), "bed": (0.58, 0.72), "cabinet": (0.25, 0.4), "vase": (0.75, 0.85),
}
assert tuple(CATEGORY_HUES) == OBJECT_CATEGORIES == tuple(CATEGORY_PATTERNS)


@dataclass(frozen=True)
class SceneObject:
    category: int
    position: tuple[float, float]  # x, z of the footprint centre
    radius: float  # footprint radius (for placement)
    height: float
    shape: int = 0  # 0: the category's first shape, 1: its alternative (see VARIED_SHAPES)
    pattern: int = 0  # the main material's pattern (index in PATTERNS): with the shape, its fine class

    def fine_class(self) -> int:
        """Index of the object's fine class in :data:`taskonomy.tasks.FINE_OBJECT_CLASSES`."""
        return fine_object_class(OBJECT_CATEGORIES[self.category], shape=self.shape, pattern=PATTERNS[self.pattern])


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
        """Semantic class id of every surface id (room faces, then primitives): 0 (background) for
        the room, ``1 + category`` for an object's primitives."""
        obj_cls = [1 + self.objects[p.obj].category for p in self.primitives]
        return np.array([0] * N_ROOM_FACES + obj_cls, dtype=np.int64)

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
    return Material(pattern, a, b, float(rng.uniform(*scale)), hue=h % 1.0, sat=s)


#: Categories drawn in one of two shapes (the second with probability 1/2), so that a category does
#: not decide its surfaces' curvature or normals: round or rectangular table tops, round cabinets,
#: box or cylinder lamp shades, cylindrical vases. Balls, barrels, crates and beds keep one shape.
VARIED_SHAPES: tuple[str, ...] = ("table", "cabinet", "lamp", "vase")
assert set(VARIED_SHAPES) == {c for c in OBJECT_CATEGORIES if len(CATEGORY_SHAPES[c]) == 2}


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
    floor = _material(rng, style.floor_hue, FLOOR_SAT, (0.3, 0.7), style.floor_patterns, (1.5, 4.0))
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
                objects.append(SceneObject(ci, (x, z), radius, height, shape=int(alternative), pattern=mat.pattern))
                prims.extend(ps)
                break
    light = (float(rng.uniform(-0.6, 0.6) * half[0]), 2 * half[1] - 0.15, float(rng.uniform(-0.6, 0.6) * half[2]))
    scene = Scene(room_type, half, room_materials, tuple(objects), tuple(prims), light)
    scene.packed.update(pack(scene))
    return scene


#: Share of a room's objects that is its type's characteristic (first) object: one of the about 4
#: objects a room holds (2 to 6, some fail to be placed), see :func:`room_type_posterior`.
CHARACTERISTIC_SHARE = 0.25


def _uniform_density(x: float, lo: float, hi: float) -> float:
    """Density at ``x`` (a hue in [0, 1) or a saturation) of the uniform draw on ``[lo, hi]``; a range
    past 1 wraps (hues are taken modulo 1)."""
    width = hi - lo
    if width >= 1.0:
        return 1.0 / width
    return 1.0 / width if (x - lo) % 1.0 <= width + 1e-12 else 0.0


def _pattern_probability(pattern: int, patterns: tuple[str, ...]) -> float:
    return patterns.count(PATTERNS[pattern]) / len(patterns)


def room_type_posterior(scene: Scene, *, wall: bool, floor: bool, objects: tuple[int, ...]) -> F64:
    """The posterior over :data:`ROOM_TYPES` given the evidence in view (uniform prior over types).

    Evidence: the wall material's hue, saturation and pattern (if ``wall``: a wall pixel is visible),
    the floor material's hue and pattern (if ``floor``), each visible object's category (indices in
    ``objects``, one entry per visible object). Their likelihoods are exact under the sampler
    (:func:`sample_scene`) for the materials; for the objects it is approximated by independent draws
    from the type's category mix ``s [c = first] + (1 - s) w_c / sum w`` with ``s`` =
    :data:`CHARACTERISTIC_SHARE` (the sampler always places the first category once and draws the
    rest from the weights). The ceiling and the value (brightness) are the same for every type.
    """
    wall_m, floor_m = scene.room_materials[WALL_FACES[0]], scene.room_materials[FLOOR_FACE]
    like = np.ones(len(ROOM_TYPES))
    for t, name in enumerate(ROOM_TYPES):
        style = ROOM_STYLES[name]
        if wall:
            like[t] *= (_uniform_density(wall_m.hue, *style.wall_hue) * _uniform_density(wall_m.sat, *style.wall_sat)
                        * _pattern_probability(wall_m.pattern, style.wall_patterns))
        if floor:
            like[t] *= _uniform_density(floor_m.hue, *style.floor_hue) * _pattern_probability(
                floor_m.pattern, style.floor_patterns)
        weights = style.objects
        total = sum(weights.values())
        first = next(iter(weights))
        for c in objects:
            cat = OBJECT_CATEGORIES[c]
            share = weights.get(cat, 0.0) / total
            like[t] *= CHARACTERISTIC_SHARE * (cat == first) + (1 - CHARACTERISTIC_SHARE) * share
    if like.sum() <= 0:  # evidence impossible under the model (a hand-made scene): no information
        return np.full(len(ROOM_TYPES), 1.0 / len(ROOM_TYPES))
    return like / like.sum()


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
