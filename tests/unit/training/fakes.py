"""Synthetic splits with the shapes and dtypes of the sample contract (see taskonomy.training.synthetic)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from taskonomy.tasks import TaskSpec
from taskonomy.training.synthetic import synthetic_split


def make_fake_split(tasks: Iterable[TaskSpec], n: int, size: int, seed: int) -> dict[str, np.ndarray]:
    """One split: every input image key and target key of ``tasks``, stacked along N."""
    return synthetic_split(tasks, n, size, seed)
