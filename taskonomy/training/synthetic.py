"""Synthetic splits that follow the sample contract, for benchmarks, smoke tests and unit tests.

Not a world: targets are simple functions of the first input image (plus noise), only so that
networks have something learnable. Use :mod:`taskonomy.data` for real experiments.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from taskonomy.errors import InvalidInputError
from taskonomy.tasks import SEMANTIC_UNCERTAIN, TaskSpec


def synthetic_split(tasks: Iterable[TaskSpec], n: int, size: int, seed: int) -> dict[str, np.ndarray]:
    """Every input image key and target key of ``tasks``, stacked along N (local generator from ``seed``)."""
    if n < 1 or size < 8 or size % 4:
        raise InvalidInputError(f"need n >= 1 and a size >= 8 divisible by 4, got n={n}, size={size}")
    rng = np.random.default_rng(seed)
    tasks = list(tasks)
    out: dict[str, np.ndarray] = {}
    for key in dict.fromkeys(k for t in tasks for k in t.inputs):  # blocky images plus a little noise
        coarse = rng.random((n, 3, size // 4, size // 4), dtype=np.float32)
        img = coarse.repeat(4, axis=2).repeat(4, axis=3)
        out[key] = np.clip(img + 0.05 * rng.standard_normal(img.shape, dtype=np.float32), 0, 1).astype(np.float32)
    for t in tasks:
        if not t.target or t.target in out:  # no target, or e.g. "rgb": both an input and a target
            continue
        base = out[t.inputs[0]]
        c = t.output.channels
        kind = t.output.kind
        if kind == "pixels":
            y = np.concatenate([base[:, i % 3 : i % 3 + 1] * (1 + i) for i in range(c)], axis=1)
            out[t.target] = (y * 2.0 + 0.5).astype(np.float32)
        elif kind == "labels":  # the darkest pixels of the green channel are uncertain (left out of the loss)
            labels = np.minimum((base[:, 0] * c).astype(np.int64), c - 1)
            out[t.target] = np.where(base[:, 1] < 0.05, SEMANTIC_UNCERTAIN, labels)
        elif kind == "embedding":
            out[t.target] = (base[:, 1] * 4).astype(np.int64) + 100
        elif kind == "vector":
            out[t.target] = (base.mean(axis=(2, 3))[:, [i % 3 for i in range(c)]] * 3
                             + 0.1 * rng.standard_normal((n, c))).astype(np.float32)
        elif kind == "class":
            out[t.target] = np.minimum((base[:, 0].mean(axis=(1, 2)) * c).astype(np.int64), c - 1)
        elif kind == "distribution":  # soft labels whose peak follows the image's mean colour
            means = base.mean(axis=(2, 3))[:, [i % 3 for i in range(c)]]
            logits = 8.0 * (means - means.mean(axis=1, keepdims=True)) * (1 + np.arange(c) % 2) \
                + 0.5 * rng.standard_normal((n, c))
            e = np.exp(logits - logits.max(axis=1, keepdims=True))
            out[t.target] = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        elif kind == "binary":
            out[t.target] = (base[:, 0].mean(axis=(1, 2)) > 0.5).astype(np.float32)[:, None]
    return out
