"""The image corruptions: the inputs of the self-supervised tasks, derived from the clean image.

One definition for the renderer (which draws the masked square and the jigsaw permutation at
random for every sample) and for the model bank's predictions on an uploaded image (which fix
them: :func:`centred_square`, permutation 0), so that a network sees at prediction time exactly
the kind of input it was trained on.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from taskonomy.world._jigsaw import apply_jigsaw, jigsaw_permutations

F32 = NDArray[np.float32]

def luma(rgb: NDArray[np.floating]) -> NDArray[np.floating]:
    """``(H, W)`` luma (ITU-R 601 weights) of a ``(3, H, W)`` image, in the image's precision."""
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def centred_square(size: int) -> F32:
    """``(size, size)`` mask, 1 on the centred square of a third of the side (at least one pixel)."""
    mask = np.zeros((size, size), dtype=np.float32)
    side = max(1, size // 3)
    lo = (size - side) // 2
    mask[lo:lo + side, lo:lo + side] = 1.0
    return mask


def corrupted_inputs(rgb: F32, rng: np.random.Generator, *, noise_sigma: float,
                     mask: NDArray[np.floating] | None = None, permutation: int | None = None,
                     gray: NDArray[np.floating] | None = None) -> dict[str, NDArray[np.generic]]:
    """The corrupted versions of the clean ``(3, S, S)`` float32 image ``rgb`` in [0, 1].

    * ``rgb_noisy``: ``rgb`` plus Gaussian noise of standard deviation ``noise_sigma`` drawn from
      ``rng`` (first), clipped to [0, 1];
    * ``gray``: the luma, repeated on three channels (``gray``, when given, is the luma already
      computed from the unrounded image: the renderer's, in float64);
    * ``rgb_masked``: ``rgb`` with the pixels where ``mask`` is 1 blacked out; without ``mask``, a
      square of side in ``[S // 4, S // 2]`` at a uniform position drawn from ``rng`` (after the
      noise); the mask is returned as ``meta.inpaint_mask``;
    * ``jigsaw_image``: ``rgb``'s 3x3 tiles in permutation ``permutation`` of
      :func:`jigsaw_permutations` (drawn from ``rng`` last when not given), returned as ``jigsaw``.
    """
    s = rgb.shape[-1]
    noisy = np.clip(rgb + rng.normal(0.0, noise_sigma, size=rgb.shape), 0.0, 1.0).astype(np.float32)
    if gray is None:
        gray = luma(rgb)
    if mask is None:
        side = int(rng.integers(s // 4, s // 2 + 1))
        y0, x0 = (int(v) for v in rng.integers(0, s - side + 1, size=2))
        mask = np.zeros((s, s), dtype=np.float32)
        mask[y0:y0 + side, x0:x0 + side] = 1.0
    mask = np.asarray(mask, dtype=np.float32)
    perms = jigsaw_permutations()
    if permutation is None:
        permutation = int(rng.integers(len(perms)))
    return {
        "rgb_noisy": noisy,
        "gray": np.repeat(np.asarray(gray).reshape(1, s, s), 3, axis=0).astype(np.float32),
        "rgb_masked": (rgb * (1.0 - mask)).astype(np.float32),
        "jigsaw": np.array(permutation, dtype=np.int64),
        "jigsaw_image": apply_jigsaw(rgb, perms[permutation]).astype(np.float32),
        "meta.inpaint_mask": mask,
    }
