"""The fixed set of 3x3 jigsaw permutations and their application to images.

The set is drawn once from a fixed generator: greedily, each next permutation maximises its
minimum Hamming distance to those chosen (Noroozi & Favaro, ECCV 2016, "maximal" set), starting
from the identity. Tiles are ``S // 3`` pixels wide; when ``S`` is not divisible by 3 the last
row/column strip stays in place.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from taskonomy.tasks import N_JIGSAW_PERMUTATIONS


@lru_cache(maxsize=1)
def jigsaw_permutations() -> NDArray[np.int64]:
    """``(N_JIGSAW_PERMUTATIONS, 9)``: row ``k`` lists, for each output tile, the source tile."""
    rng = np.random.default_rng(20180618)
    pool = np.stack([rng.permutation(9) for _ in range(3000)])
    chosen = [np.arange(9)]
    mind = (pool != chosen[0]).sum(-1)
    for _ in range(N_JIGSAW_PERMUTATIONS - 1):
        k = int(mind.argmax())
        chosen.append(pool[k])
        mind = np.minimum(mind, (pool != pool[k]).sum(-1))
    out = np.stack(chosen).astype(np.int64)
    out.setflags(write=False)
    return out


def _tiles(size: int) -> list[tuple[slice, slice]]:
    t = size // 3
    return [(slice(r * t, (r + 1) * t), slice(c * t, (c + 1) * t)) for r in range(3) for c in range(3)]


def apply_jigsaw(image: NDArray[np.floating], perm: NDArray[np.int64]) -> NDArray[np.floating]:
    """Shuffle the 3x3 tiles of a ``(C, S, S)`` image: output tile ``i`` is input tile ``perm[i]``."""
    out = np.array(image, copy=True)
    tiles = _tiles(image.shape[-1])
    for i, j in enumerate(perm):
        out[(..., *tiles[i])] = image[(..., *tiles[int(j)])]
    return out


def invert_permutation(perm: NDArray[np.int64]) -> NDArray[np.int64]:
    """The permutation that undoes ``perm`` under :func:`apply_jigsaw`."""
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    return inv
