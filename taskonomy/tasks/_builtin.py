"""The 26 built-in tasks on the built-in world, with their labels defined as Taskonomy defines them.

Each description says exactly what the world renders for the task (``taskonomy tasks`` prints
them); the conventions (camera frame, poses) are in :mod:`taskonomy.world`.
"""

from __future__ import annotations

from taskonomy.tasks._constants import (
    EGOMOTION_PAIRS,
    EMBEDDING_DIM,
    FINE_OBJECT_CLASSES,
    N_JIGSAW_PERMUTATIONS,
    POSE_DIM,
    ROOM_LAYOUT_DIM,
    ROOM_TYPES,
    SEMANTIC_CLASSES,
    SEMANTIC_UNCERTAIN,
    VANISHING_DIM,
)
from taskonomy.tasks._spec import OutputSpec, TaskSpec

RGB = ("rgb",)


def _pix(c: int) -> OutputSpec:
    return OutputSpec("pixels", c)


BUILTIN_TASKS: tuple[TaskSpec, ...] = (
    TaskSpec("autoencoding", "autoencoder", "Autoencoding", RGB, "rgb", _pix(3), "l1", "l1",
             description="the rgb image itself", family="2d"),
    TaskSpec("denoising", "denoise", "Denoising", ("rgb_noisy",), "rgb", _pix(3), "l1", "l1",
             description="the clean rgb image from a noisy one", family="2d"),
    TaskSpec("colorization", "colorization", "Colorization", ("gray",), "rgb", _pix(3), "l1", "l1",
             can_be_target=False, description="the colours from a grayscale image", family="2d"),
    TaskSpec("inpainting", "impainting_whole", "In-painting", ("rgb_masked",), "rgb", _pix(3), "l1", "l1",
             can_be_target=False, description="the whole image from one with a masked region", family="2d"),
    TaskSpec("jigsaw", "jigsaw", "Jigsaw", ("jigsaw_image",), "jigsaw",
             OutputSpec("class", N_JIGSAW_PERMUTATIONS), "cross_entropy", "cross_entropy",
             can_be_target=False, description="index of the 3x3 tile permutation among a fixed set", family="2d"),
    TaskSpec("random", "random", "Random Proj.", RGB, "", OutputSpec("none"), "none", "none",
             can_be_target=False, trainable=False, description="a frozen randomly initialised encoder"),
    TaskSpec("edge_texture", "edge2d", "2D Edges", RGB, "edge_texture", _pix(1), "l1", "l1",
             description="texture edge strength in [0, 1]: Canny's Gaussian (sigma 1 px) and Sobel stages, without "
                         "non-maximum suppression, scaled by 0.15", family="2d"),
    TaskSpec("edge_occlusion", "edge3d", "Occlusion Edges", RGB, "edge_occlusion", _pix(1), "l1", "l1",
             description="occlusion edges: the near side of depth discontinuities (not creases) as a soft map "
                         "exp(-d^2 / 2 sigma^2) of the distance d to them, sigma = side/64 px (at least 1)",
             family="3d"),
    TaskSpec("keypoints2d", "keypoint2d", "2D Keypoints", RGB, "keypoints2d", _pix(1), "l1", "l1",
             description="Harris corner response of the image (sigma 1 px, k 0.05), square root of its share of the "
                         "maximum", family="2d"),
    TaskSpec("keypoints3d", "keypoint3d", "3D Keypoints", RGB, "keypoints3d", _pix(1), "l1", "l1",
             description="Harris corner response of the geometry (normals and log depth), square root of its share "
                         "of the maximum", family="3d"),
    TaskSpec("reshading", "reshade", "Reshading", RGB, "reshading", _pix(1), "l1", "l1",
             description="shading of the geometry with constant albedo under one point light at the camera centre: "
                         "max(0, n.v) min(1, (3 m / distance)^2); independent of the scene's light", family="3d"),
    TaskSpec("depth_zbuffer", "rgb2depth", "Z-Depth", RGB, "depth_zbuffer", _pix(1), "l1", "l1",
             description="z-depth in metres", family="3d"),
    TaskSpec("depth_euclidean", "rgb2mist", "Distance", RGB, "depth_euclidean", _pix(1), "l1", "l1",
             description="distance from the camera centre in metres", family="3d"),
    TaskSpec("normal", "rgb2sfnorm", "Normals", RGB, "normal", _pix(3), "l1", "l1",
             description="unit surface normals in the camera frame", family="3d"),
    TaskSpec("principal_curvature", "curvature", "Curvature", RGB, "principal_curvature", _pix(2), "l2", "l2",
             description="the two principal curvatures k1 >= k2 (convex positive) at a neighbourhood scale: the "
                         "shape operator of the normals smoothed by a Gaussian of sigma = 1.25 px per 32 px of side "
                         "that stops at occlusions, so creases (walls meeting the floor: negative) and box edges "
                         "(positive) bend as on a scanned mesh; divided by 5/m and clipped to [-1, 1] (0 = flat), as "
                         "the dataset's 127-centred encoding", family="3d"),
    TaskSpec("segment_unsup2d", "segment2d", "2D Segm.", RGB, "segment_unsup2d",
             OutputSpec("embedding", EMBEDDING_DIM), "metric_embedding", "metric_embedding",
             description="Felzenszwalb segmentation of the image", family="2d"),
    TaskSpec("segment_unsup25d", "segment25d", "2.5D Segm.", RGB, "segment_unsup25d",
             OutputSpec("embedding", EMBEDDING_DIM), "metric_embedding", "metric_embedding",
             description="Felzenszwalb segmentation of rgb, normals and depth together: surfaces, not texture "
                         "patches", family="3d"),
    TaskSpec("segment_semantic", "segmentsemantic_rb", "Semantic Segm.", RGB, "segment_semantic",
             OutputSpec("labels", len(SEMANTIC_CLASSES)), "rebalanced_cross_entropy", "rebalanced_cross_entropy",
             description="per-pixel object category, as Taskonomy's: background (walls, floor, ceiling), "
                         + ", ".join(SEMANTIC_CLASSES[1:])
                         + f"; {SEMANTIC_UNCERTAIN} = uncertain (an object with fewer than "
                           "max(3, 0.4% of the image) visible pixels), left out of the loss; cross-entropy "
                           "rebalanced by class frequency (lambda 0.5)", family="semantic"),
    TaskSpec("class_object", "class_1000", "Object Class.", RGB, "class_object",
             OutputSpec("distribution", len(FINE_OBJECT_CLASSES)), "soft_cross_entropy", "soft_cross_entropy",
             description=f"a classifier-like soft distribution over {len(FINE_OBJECT_CLASSES)} fine object classes "
                         "(category x shape x material pattern, e.g. table/round/planks): 0.9 x visible-area share "
                         "+ 0.1 uniform; uniform when no object is in view", family="semantic"),
    TaskSpec("class_scene", "class_places", "Scene Class.", RGB, "class_scene",
             OutputSpec("distribution", len(ROOM_TYPES)), "soft_cross_entropy", "soft_cross_entropy",
             description="posterior over the room types (" + ", ".join(ROOM_TYPES) + ") given what is in view "
                         "(wall and floor palettes, visible objects' categories), uniform prior: a soft label like "
                         "a Places softmax", family="semantic"),
    TaskSpec("room_layout", "room_layout", "Layout", RGB, "room_layout",
             OutputSpec("vector", ROOM_LAYOUT_DIM), "l2", "l2",
             description="room box in the camera frame: its centre (3) and shape tensor sum_i h_i e_i e_i^T (6: "
                         "xx, yy, zz, xy, xz, yz), continuous and free of axis-labelling choices", family="geometric"),
    TaskSpec("vanishing_point", "vanishing_point_well_defined", "Vanishing Pts.", RGB, "vanishing_point",
             OutputSpec("vector", VANISHING_DIM), "l2", "l2",
             description="the three Manhattan directions in the camera frame: vertical (down, 3) and the "
                         "horizontal pair as (cos 4θ, sin 4θ), continuous under the room's symmetry",
             family="geometric"),
    TaskSpec("egomotion", "ego_motion", "Egomotion", ("rgb", "view1", "view2"), "egomotion",
             OutputSpec("vector", EGOMOTION_PAIRS * POSE_DIM), "l2", "l2",
             description="relative poses (rotation vector, translation) of the pairs 0-1, 0-2, 1-2 of a view "
                         "triplet (small motions)", family="geometric"),
    TaskSpec("fixated_pose", "fix_pose", "Cam. Pose (fix)", ("rgb", "view_fix"), "fixated_pose",
             OutputSpec("vector", POSE_DIM), "l2", "l2",
             description="relative pose of two views 0.3-1 m apart fixating one 3D point", family="geometric"),
    TaskSpec("nonfixated_pose", "non_fixated_pose", "Cam. Pose (nonfix)", ("rgb", "view_nonfix"), "nonfixated_pose",
             OutputSpec("vector", POSE_DIM), "l2", "l2",
             description="relative pose of two overlapping views 0.4-1.2 m apart, 10-35 degrees of yaw, with no "
                         "common fixation point", family="geometric"),
    TaskSpec("point_matching", "point_match", "Matching", ("match_a", "match_b"), "point_matching",
             OutputSpec("binary", 1), "bce", "bce",
             description="whether the two patch centres show the same 3D point", family="geometric"),
)

#: Every image key any built-in task reads (the world renders all of them).
IMAGE_KEYS: tuple[str, ...] = tuple(dict.fromkeys(k for t in BUILTIN_TASKS for k in t.inputs))
