"""The built-in procedural world: textured box rooms, primitive objects, exact ground truth.

>>> from taskonomy.world import WorldSpec, render_sample
>>> sample = render_sample(WorldSpec(seed=0, size=32), 0)
>>> sample["normal"].shape
(3, 32, 32)

Where things live (other packages import the public names from ``taskonomy.world``):

- ``_spec``: :class:`WorldSpec` and its bounds; ``_scene``: rooms, objects and their materials;
  ``_cameras``: the views of a sample; ``_geometry``: the camera frame, poses and intrinsics;
- ``_render``: :func:`render_sample` (every image and every task's target of one sample);
- ``_corruptions``: the inputs of the self-supervised tasks derived from the clean image
  (:func:`corrupted_inputs`: noise, luma, masked square, jigsaw tiles), shared with the model
  bank's predictions on uploaded images;
- ``_labels``: the geometric and image labels (edges and their softening, keypoints, curvature,
  layout, vanishing points); ``_jigsaw``: the fixed permutation set;
- ``_semantic``: Taskonomy's segmentation with one background class and uncertain pixels,
  fine-grained object soft labels, the room-type posterior; ``_frequencies``: class shares;
- ``_preview``: :func:`preview_sheet`, a sample (or a prediction) drawn as a PNG;
- compiled with numba: ray casting (``_raycast``), texturing (``_shading``), the Felzenszwalb
  segmentation (``_segment``) and the neighbourhood-scale curvature (``_curvature``).
"""

from __future__ import annotations

from taskonomy.contract.world import MAX_SIZE, MIN_SIZE, WORLD_VERSION, WorldSpec
from taskonomy.world._cameras import Camera, SampledWorld, sample_world
from taskonomy.world._corruptions import centred_square, corrupted_inputs, luma
from taskonomy.world._frequencies import semantic_frequencies
from taskonomy.world._geometry import intrinsics, matrix_to_rotvec, relative_pose, rotvec_to_matrix
from taskonomy.world._jigsaw import apply_jigsaw, invert_permutation, jigsaw_permutations
from taskonomy.world._labels import edge_occlusion_sigma, soften_edges
from taskonomy.world._preview import preview_sheet
from taskonomy.world._render import VIEW_KEYS, render_sample, render_view
from taskonomy.world._scene import ROOM_STYLES, Material, Primitive, Scene, SceneObject, make_scene, sample_scene

__all__ = [
    "MAX_SIZE", "MIN_SIZE", "ROOM_STYLES", "VIEW_KEYS", "WORLD_VERSION", "Camera", "Material", "Primitive",
    "SampledWorld", "Scene", "SceneObject", "make_scene",
    "WorldSpec", "apply_jigsaw", "intrinsics", "invert_permutation", "jigsaw_permutations", "matrix_to_rotvec",
    "relative_pose", "render_sample", "render_view", "rotvec_to_matrix", "sample_scene", "sample_world",
    "semantic_frequencies", "edge_occlusion_sigma", "soften_edges", "preview_sheet",
    "centred_square", "corrupted_inputs", "luma",
]
