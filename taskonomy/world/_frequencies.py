"""Label statistics of a world measured on its rendered samples."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from taskonomy.contract.world import WorldSpec
from taskonomy.tasks import SEMANTIC_CLASSES
from taskonomy.world._render import render_sample


def semantic_frequencies(spec: WorldSpec, n: int) -> NDArray[np.float64]:
    """Pixel share of each semantic class over the certain pixels of the first ``n`` samples of ``spec``
    (how :data:`taskonomy.tasks.SEMANTIC_FREQUENCIES` was measured: ``WorldSpec(seed=0, size=32)``,
    ``n = 2000``)."""
    counts = np.zeros(len(SEMANTIC_CLASSES))
    for i in range(n):
        sem = np.asarray(render_sample(spec, i)["segment_semantic"], dtype=np.int64)
        counts += np.bincount(sem[sem >= 0].ravel(), minlength=len(SEMANTIC_CLASSES))
    return counts / max(counts.sum(), 1.0)
