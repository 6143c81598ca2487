"""Turn a task's ground truth or prediction into something a figure can show.

Dense outputs become RGB images (H, W, 3) in [0, 1]; global outputs (vectors, classes,
distributions, binary decisions) become a 1-D array drawn as bars. Predictions use the
conventions of :func:`taskonomy.training.predict` (class probabilities on axis 0 of a sample,
embeddings as (D, H, W)).
"""

from __future__ import annotations

from typing import Any

import numpy as np

_TAB = np.array([
    (0.12, 0.47, 0.71), (1.0, 0.5, 0.05), (0.17, 0.63, 0.17), (0.84, 0.15, 0.16), (0.58, 0.4, 0.74),
    (0.55, 0.34, 0.29), (0.89, 0.47, 0.76), (0.5, 0.5, 0.5), (0.74, 0.74, 0.13), (0.09, 0.75, 0.81),
    (0.68, 0.78, 0.91), (1.0, 0.73, 0.47), (0.6, 0.87, 0.54), (1.0, 0.6, 0.59), (0.77, 0.69, 0.84),
    (0.77, 0.61, 0.58), (0.97, 0.71, 0.82), (0.78, 0.78, 0.78), (0.86, 0.86, 0.55), (0.62, 0.85, 0.9),
])


def image_rgb(image: np.ndarray) -> np.ndarray:
    """An input image (3, H, W) in [0, 1] as (H, W, 3)."""
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim == 3 and arr.shape[0] in (1, 3):
        arr = np.transpose(arr, (1, 2, 0))
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.clip(arr, 0.0, 1.0)


def _colormap(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    from matplotlib import colormaps

    span = hi - lo if hi > lo else 1.0
    return np.asarray(colormaps["viridis"](np.clip((x - lo) / span, 0, 1)))[..., :3]


def _labels_rgb(labels: np.ndarray) -> np.ndarray:
    """Label ids as colours; negative ids (``SEMANTIC_UNCERTAIN``, unlabelled) black."""
    ids = np.asarray(labels, dtype=np.int64)
    return np.where((ids < 0)[..., None], 0.0, _TAB[np.maximum(ids, 0) % len(_TAB)])


def _embedding_rgb(emb: np.ndarray) -> np.ndarray:
    d, h, w = emb.shape
    flat = emb.reshape(d, -1).T.astype(np.float64)
    flat = flat - flat.mean(axis=0)
    try:
        _, _, vt = np.linalg.svd(flat, full_matrices=False)
        proj = flat @ vt[:3].T
    except np.linalg.LinAlgError:
        proj = flat[:, :3]
    if proj.shape[1] < 3:
        proj = np.pad(proj, ((0, 0), (0, 3 - proj.shape[1])))
    lo, hi = proj.min(axis=0), proj.max(axis=0)
    proj = (proj - lo) / np.where(hi > lo, hi - lo, 1.0)
    return proj.reshape(h, w, 3)


def dense_pair(task: Any, target: np.ndarray, prediction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth and prediction of one sample of a dense task as two (H, W, 3) images on one scale."""
    kind = task.output.kind
    if kind == "labels":
        pred = np.asarray(prediction)
        pred_labels = pred.argmax(axis=0) if pred.ndim == 3 else pred
        return _labels_rgb(target), _labels_rgb(pred_labels)
    if kind == "embedding":
        pred = np.asarray(prediction)
        return _labels_rgb(target), _embedding_rgb(pred) if pred.ndim == 3 else _labels_rgb(pred)
    t = np.asarray(target, dtype=np.float64)
    p = np.asarray(prediction, dtype=np.float64).reshape(t.shape)
    if t.shape[0] == 3:
        lo, hi = float(min(t.min(), 0.0)), float(max(t.max(), 1.0))
        if lo < 0:  # e.g. unit normals in [-1, 1]
            return image_rgb((t - lo) / (hi - lo)), image_rgb((p - lo) / (hi - lo))
        return image_rgb(t), image_rgb(p)
    lo, hi = float(np.percentile(t[0], 1)), float(np.percentile(t[0], 99))
    return _colormap(t[0], lo, hi), _colormap(p[0], lo, hi)


def global_pair(task: Any, target: np.ndarray, prediction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth and prediction of a global task as two 1-D arrays (bars)."""
    kind = task.output.kind
    pred = np.atleast_1d(np.asarray(prediction, dtype=np.float64))
    if kind == "class":
        onehot = np.zeros(max(task.output.channels, pred.size), dtype=np.float64)
        onehot[int(np.asarray(target))] = 1.0
        return onehot, pred
    return np.atleast_1d(np.asarray(target, dtype=np.float64)), pred
