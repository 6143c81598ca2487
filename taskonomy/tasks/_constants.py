"""Label vocabularies of the built-in world, shared by the world renderer and the task specs."""

from __future__ import annotations

#: Semantic object categories; each is drawn as one or two primitive shapes with its own size range.
OBJECT_CATEGORIES: tuple[str, ...] = ("ball", "crate", "table", "lamp", "barrel", "bed", "cabinet", "vase")
#: Per-pixel semantic classes, as Taskonomy's ``segmentsemantic``: one background class (walls, floor,
#: ceiling and everything that is not an object), then the object categories (index = class id).
SEMANTIC_CLASSES: tuple[str, ...] = ("background", *OBJECT_CATEGORIES)
#: The ``segment_semantic`` value of a pixel whose class is unsure (Taskonomy's files store 0 for it):
#: left out of the loss. The world marks so the pixels of an object barely visible in the view.
SEMANTIC_UNCERTAIN: int = -1
#: Pixel frequency of each semantic class over the certain pixels of the default world (the ``p_c`` of
#: the rebalanced loss). Measured once on 2000 samples of ``WorldSpec(seed=0, size=32)`` (world
#: version 4) with ``taskonomy.world.semantic_frequencies``; ``tests/unit/world/test_semantic.py``
#: re-measures them on a smaller sample.
SEMANTIC_FREQUENCIES: tuple[float, ...] = (0.8004, 0.0041, 0.0135, 0.052, 0.0059, 0.0243, 0.0528, 0.0443, 0.0028)
#: The smoothing weight λ of the class rebalancing (Zhang et al.'s colorization rebalancing, Taskonomy's ``_rb``).
REBALANCE_LAMBDA: float = 0.5


def rebalance_weights(freqs: tuple[float, ...] = SEMANTIC_FREQUENCIES, *,
                      lam: float = REBALANCE_LAMBDA) -> tuple[float, ...]:
    """Class weights ``w_c ∝ 1 / ((1 - λ) p_c + λ / C)``, normalised so that ``Σ_c p_c w_c = 1``
    (the expected weight of a pixel is 1), from the class frequencies ``p_c``."""
    total = sum(freqs)
    p = [f / total for f in freqs]
    c = len(p)
    raw = [1.0 / ((1.0 - lam) * pc + lam / c) for pc in p]
    norm = sum(pc * w for pc, w in zip(p, raw, strict=True))
    return tuple(w / norm for w in raw)


#: The two shapes of the categories drawn in two shapes (the world's ``VARIED_SHAPES``), first the
#: default one; the other categories have one shape (named ``""``).
CATEGORY_SHAPES: dict[str, tuple[str, ...]] = {
    "ball": ("",), "crate": ("",), "table": ("rect", "round"), "lamp": ("globe", "drum"), "barrel": ("",),
    "bed": ("",), "cabinet": ("box", "round"), "vase": ("bulb", "cylinder"),
}
#: The texture patterns an object of each category is drawn with (its main material).
CATEGORY_PATTERNS: dict[str, tuple[str, ...]] = {
    "ball": ("stripes", "checker"), "crate": ("planks", "tiles"), "table": ("planks", "plain"),
    "lamp": ("plain",), "barrel": ("stripes",), "bed": ("checker", "stripes", "plain"),
    "cabinet": ("plain", "tiles"), "vase": ("stripes", "plain"),
}


def _fine_name(cat: str, shape: str, pattern: str) -> str:
    return "/".join(p for p in (cat, shape, pattern) if p)


#: Fine-grained object classes of ``class_object`` (Taskonomy's ImageNet-1000 classes): category x shape
#: x main material pattern, e.g. ``table/round/planks``; finer than the semantic categories.
FINE_OBJECT_CLASSES: tuple[str, ...] = tuple(
    _fine_name(c, s, p) for c in OBJECT_CATEGORIES for s in CATEGORY_SHAPES[c] for p in CATEGORY_PATTERNS[c])


def fine_object_class(category: str, *, shape: int, pattern: str) -> int:
    """Index in :data:`FINE_OBJECT_CLASSES` of an object: its category, shape index and main pattern."""
    return FINE_OBJECT_CLASSES.index(_fine_name(category, CATEGORY_SHAPES[category][shape], pattern))


#: Room types; rooms of a type share characteristic objects and (overlapping) palettes.
ROOM_TYPES: tuple[str, ...] = ("bedroom", "kitchen", "office", "living_room", "bathroom", "storage")
#: Size of the fixed set of 3x3 tile permutations that jigsaw classifies among.
N_JIGSAW_PERMUTATIONS: int = 64
#: Dimension of the per-pixel embedding predicted for the unsupervised segmentations.
EMBEDDING_DIM: int = 8
#: Dimensions of the low-dimensional geometric targets.
ROOM_LAYOUT_DIM: int = 9  # room centre (3) + the box's shape tensor (6 unique entries), camera frame
VANISHING_DIM: int = 5  # vertical direction (3) + the horizontal directions as (cos 4θ, sin 4θ), camera frame
POSE_DIM: int = 6  # rotation vector (3) + translation (3) of view B relative to view A
EGOMOTION_PAIRS: int = 3  # the pairs (0, 1), (0, 2), (1, 2) of a view triplet
