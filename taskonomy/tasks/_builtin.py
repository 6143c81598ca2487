"""The 26 built-in tasks of ../shared/TASKS.md, on the built-in world."""

from __future__ import annotations

from taskonomy.tasks._constants import (
    EMBEDDING_DIM,
    N_JIGSAW_PERMUTATIONS,
    OBJECT_CATEGORIES,
    POSE_DIM,
    ROOM_LAYOUT_DIM,
    ROOM_TYPES,
    SEMANTIC_CLASSES,
    VANISHING_DIM,
)
from taskonomy.tasks._spec import OutputSpec, TaskSpec

RGB = ("rgb",)


def _pix(c: int) -> OutputSpec:
    return OutputSpec("pixels", c)


BUILTIN_TASKS: tuple[TaskSpec, ...] = (
    TaskSpec("autoencoding", "autoencoder", "Autoencoding", RGB, "rgb", _pix(3), "l1", "l1",
             description="the rgb image itself"),
    TaskSpec("denoising", "denoise", "Denoising", ("rgb_noisy",), "rgb", _pix(3), "l1", "l1",
             description="the clean rgb image from a noisy one"),
    TaskSpec("colorization", "colorization", "Colorization", ("gray",), "rgb", _pix(3), "l1", "l1",
             can_be_target=False, description="the colours from a grayscale image"),
    TaskSpec("inpainting", "impainting_whole", "In-painting", ("rgb_masked",), "rgb", _pix(3), "l1", "l1",
             can_be_target=False, description="the whole image from one with a masked region"),
    TaskSpec("jigsaw", "jigsaw", "Jigsaw", ("jigsaw_image",), "jigsaw",
             OutputSpec("class", N_JIGSAW_PERMUTATIONS), "cross_entropy", "cross_entropy",
             can_be_target=False, description="index of the 3x3 tile permutation among a fixed set"),
    TaskSpec("random", "random", "Random Proj.", RGB, "", OutputSpec("none"), "none", "none",
             can_be_target=False, trainable=False, description="a frozen randomly initialised encoder"),
    TaskSpec("edge_texture", "edge2d", "2D Edges", RGB, "edge_texture", _pix(1), "l1", "l1",
             description="texture edge strength: Canny without non-maximum suppression"),
    TaskSpec("edge_occlusion", "edge3d", "Occlusion Edges", RGB, "edge_occlusion", _pix(1), "l1", "l1",
             description="depth discontinuities"),
    TaskSpec("keypoints2d", "keypoint2d", "2D Keypoints", RGB, "keypoints2d", _pix(1), "l1", "l1",
             description="Harris corner response of the image"),
    TaskSpec("keypoints3d", "keypoint3d", "3D Keypoints", RGB, "keypoints3d", _pix(1), "l1", "l1",
             description="corner response of the geometry (depth and normals)"),
    TaskSpec("reshading", "reshade", "Reshading", RGB, "reshading", _pix(1), "l1", "l1",
             description="shading with constant albedo under a fixed light"),
    TaskSpec("depth_zbuffer", "rgb2depth", "Z-Depth", RGB, "depth_zbuffer", _pix(1), "l1", "l1",
             description="z-depth in metres"),
    TaskSpec("depth_euclidean", "rgb2mist", "Distance", RGB, "depth_euclidean", _pix(1), "l1", "l1",
             description="distance from the camera centre in metres"),
    TaskSpec("normal", "rgb2sfnorm", "Normals", RGB, "normal", _pix(3), "l1", "l1",
             description="unit surface normals in the camera frame"),
    TaskSpec("principal_curvature", "curvature", "Curvature", RGB, "principal_curvature", _pix(2), "l2", "l2",
             description="the two principal curvatures (1/m) of the visible surface"),
    TaskSpec("segment_unsup2d", "segment2d", "2D Segm.", RGB, "segment_unsup2d",
             OutputSpec("embedding", EMBEDDING_DIM), "metric_embedding", "metric_embedding",
             description="Felzenszwalb segmentation of the image"),
    TaskSpec("segment_unsup25d", "segment25d", "2.5D Segm.", RGB, "segment_unsup25d",
             OutputSpec("embedding", EMBEDDING_DIM), "metric_embedding", "metric_embedding",
             description="segmentation of rgb, depth and normals together"),
    TaskSpec("segment_semantic", "segmentsemantic_rb", "Semantic Segm.", RGB, "segment_semantic",
             OutputSpec("labels", len(SEMANTIC_CLASSES)), "cross_entropy", "cross_entropy",
             description="per-pixel class: " + ", ".join(SEMANTIC_CLASSES)),
    TaskSpec("class_object", "class_1000", "Object Class.", RGB, "class_object",
             OutputSpec("distribution", len(OBJECT_CATEGORIES)), "soft_cross_entropy", "soft_cross_entropy",
             description="distribution of the object categories in view (by visible area)"),
    TaskSpec("class_scene", "class_places", "Scene Class.", RGB, "class_scene",
             OutputSpec("class", len(ROOM_TYPES)), "cross_entropy", "cross_entropy",
             description="room type: " + ", ".join(ROOM_TYPES)),
    TaskSpec("room_layout", "room_layout", "Layout", RGB, "room_layout",
             OutputSpec("vector", ROOM_LAYOUT_DIM), "l2", "l2",
             description="room box relative to the camera: centre, half extents, orientation"),
    TaskSpec("vanishing_point", "vanishing_point_well_defined", "Vanishing Pts.", RGB, "vanishing_point",
             OutputSpec("vector", VANISHING_DIM), "l2", "l2",
             description="the three Manhattan directions in the camera frame"),
    TaskSpec("egomotion", "ego_motion", "Egomotion", ("rgb", "view1", "view2"), "egomotion",
             OutputSpec("vector", 2 * POSE_DIM), "l2", "l2",
             description="poses of views 1 and 2 relative to view 0"),
    TaskSpec("fixated_pose", "fix_pose", "Cam. Pose (fix)", ("rgb", "view_fix"), "fixated_pose",
             OutputSpec("vector", POSE_DIM), "l2", "l2",
             description="relative pose of two views fixating one 3D point"),
    TaskSpec("nonfixated_pose", "non_fixated_pose", "Cam. Pose (nonfix)", ("rgb", "view1"), "nonfixated_pose",
             OutputSpec("vector", POSE_DIM), "l2", "l2",
             description="relative pose of two views"),
    TaskSpec("point_matching", "point_match", "Matching", ("match_a", "match_b"), "point_matching",
             OutputSpec("binary", 1), "bce", "bce",
             description="whether the two patch centres show the same 3D point"),
)

#: Every image key any built-in task reads (the world renders all of them).
IMAGE_KEYS: tuple[str, ...] = tuple(dict.fromkeys(k for t in BUILTIN_TASKS for k in t.inputs))
