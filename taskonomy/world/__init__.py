"""The built-in procedural world: textured box rooms, primitive objects, exact ground truth.

>>> from taskonomy.world import WorldSpec, render_sample
>>> sample = render_sample(WorldSpec(seed=0, size=32), 0)
>>> sample["normal"].shape
(3, 32, 32)

Conventions (camera frame, poses, layout) are in :mod:`taskonomy.world._geometry`,
:mod:`taskonomy.world._labels`, :mod:`taskonomy.world._cameras` and :mod:`taskonomy.world._render`;
the semantic labels (Taskonomy's segmentation with one background class and uncertain pixels,
fine-grained object soft labels, the room-type posterior) in :mod:`taskonomy.world._semantic`;
ray casting, texturing, the Felzenszwalb segmentation and the neighbourhood-scale curvature are
compiled with numba (:mod:`taskonomy.world._raycast`, :mod:`taskonomy.world._shading`,
:mod:`taskonomy.world._segment`, :mod:`taskonomy.world._curvature`).
"""

from __future__ import annotations

from taskonomy.world._cameras import Camera, SampledWorld, sample_world
from taskonomy.world._frequencies import semantic_frequencies
from taskonomy.world._geometry import intrinsics, matrix_to_rotvec, relative_pose, rotvec_to_matrix
from taskonomy.world._jigsaw import apply_jigsaw, invert_permutation, jigsaw_permutations
from taskonomy.world._labels import edge_occlusion_sigma, soften_edges
from taskonomy.world._preview import preview_sheet
from taskonomy.world._render import VIEW_KEYS, render_sample, render_view
from taskonomy.world._scene import ROOM_STYLES, Material, Primitive, Scene, SceneObject, make_scene, sample_scene
from taskonomy.world._spec import MAX_SIZE, MIN_SIZE, WORLD_VERSION, WorldSpec

__all__ = [
    "MAX_SIZE", "MIN_SIZE", "ROOM_STYLES", "VIEW_KEYS", "WORLD_VERSION", "Camera", "Material", "Primitive",
    "SampledWorld", "Scene", "SceneObject", "make_scene",
    "WorldSpec", "apply_jigsaw", "intrinsics", "invert_permutation", "jigsaw_permutations", "matrix_to_rotvec",
    "relative_pose", "render_sample", "render_view", "rotvec_to_matrix", "sample_scene", "sample_world",
    "semantic_frequencies", "edge_occlusion_sigma", "soften_edges", "preview_sheet",
]
