"""Label vocabularies of the built-in world, shared by the world renderer and the task specs."""

from __future__ import annotations

#: Semantic object categories; each is drawn as one primitive shape with its own size range.
OBJECT_CATEGORIES: tuple[str, ...] = ("ball", "crate", "table", "lamp", "barrel", "bed", "cabinet", "vase")
#: Per-pixel semantic classes: the room's surfaces, then the object categories (index = class id).
SEMANTIC_CLASSES: tuple[str, ...] = ("wall", "floor", "ceiling", *OBJECT_CATEGORIES)
#: Room types; rooms of a type share characteristic objects and palettes.
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
