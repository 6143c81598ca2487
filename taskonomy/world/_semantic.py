"""The semantic labels of a view, defined as Taskonomy defines them.

* ``segment_semantic`` (Taskonomy's ``segmentsemantic_rb``): the object category per pixel,
  ``1 + category`` (:data:`~taskonomy.tasks.SEMANTIC_CLASSES`), 0 for the background (walls,
  floor, ceiling: Taskonomy labels 16 COCO "things" and nothing else), and
  :data:`~taskonomy.tasks.SEMANTIC_UNCERTAIN` on every pixel of an object whose visible area is
  tiny (:func:`uncertain_area`): Taskonomy's 0, "uncertain", left out of the loss.
* ``class_object`` (Taskonomy's ``class_1000``, ImageNet soft labels from a classifier): the
  visible-area share of each fine object class (:data:`~taskonomy.tasks.FINE_OBJECT_CLASSES`:
  category x shape x material pattern) mixed with a uniform floor, ``(1 - ε) share + ε / K``
  with ε = :data:`CLASS_OBJECT_FLOOR`, as a classifier's softmax never reaches 0; uniform when
  no object is visible. Two views with the same segmentation map can differ in it.
* ``class_scene`` (Taskonomy's ``class_places``, a Places softmax): the exact posterior over the
  room types given what is in view (:func:`taskonomy.world._scene.room_type_posterior`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from taskonomy.tasks import FINE_OBJECT_CLASSES, SEMANTIC_UNCERTAIN
from taskonomy.world._scene import FLOOR_FACE, N_ROOM_FACES, WALL_FACES, Scene, room_type_posterior

#: Uniform share mixed into ``class_object`` (a classifier's soft output never reaches 0).
CLASS_OBJECT_FLOOR = 0.1
#: Share of the image below which an object's visible pixels are uncertain (:func:`uncertain_area`).
UNCERTAIN_SHARE = 0.004
#: Fewest visible pixels of an object whose class is certain, at any image size.
UNCERTAIN_MIN_PIXELS = 3


def uncertain_area(size: int) -> float:
    """Visible pixels below which an object's pixels are uncertain at image side ``size``:
    ``max(3, 0.4% of the pixels)`` (4 at 32 px, 16 at 64 px, 262 at 256 px).

    Taskonomy's semantic labels come from a detector run on the mesh's views, which leaves the
    small, barely visible instances unlabelled: an object covering less than 0.4% of the image
    (a patch of about 6% of the side squared, a 2 x 2 block at 32 px) shows only a sliver (an
    edge, a leg, the rim behind another object) that no appearance cue ties to a category. The
    share keeps the definition the same at every resolution; 3 pixels stay the minimum so that
    isolated single pixels (aliased thin legs, poles) are never trusted at small sizes.
    """
    return max(float(UNCERTAIN_MIN_PIXELS), UNCERTAIN_SHARE * size * size)


def semantic_labels(scene: Scene, surface: NDArray[np.int64]) -> dict[str, NDArray[np.generic]]:
    """``segment_semantic``, ``class_object`` and ``class_scene`` of a view from its ``(H, W)`` surface ids."""
    size = surface.shape[-1]
    sem = scene.surface_class()[surface]
    obj = scene.surface_object()[surface]
    n_obj = len(scene.objects)
    area = np.bincount(obj[obj >= 0].ravel(), minlength=n_obj)
    uncertain = (area > 0) & (area < uncertain_area(size))
    if uncertain.any():
        sem = np.where((obj >= 0) & uncertain[np.maximum(obj, 0)], SEMANTIC_UNCERTAIN, sem)

    k = len(FINE_OBJECT_CLASSES)
    fine = np.zeros(k)
    for i, o in enumerate(scene.objects):
        fine[o.fine_class()] += area[i]
    if fine.sum() > 0:
        dist = (1.0 - CLASS_OBJECT_FLOOR) * fine / fine.sum() + CLASS_OBJECT_FLOOR / k
    else:
        dist = np.full(k, 1.0 / k)

    faces = np.bincount(surface[surface < N_ROOM_FACES].ravel(), minlength=N_ROOM_FACES)
    visible = tuple(scene.objects[i].category for i in np.flatnonzero(area > 0))
    posterior = room_type_posterior(scene, wall=bool(faces[list(WALL_FACES)].sum() > 0),
                                    floor=bool(faces[FLOOR_FACE] > 0), objects=visible)
    return {
        "segment_semantic": sem.astype(np.int64),
        "class_object": dist.astype(np.float32),
        "class_scene": posterior.astype(np.float32),
    }

