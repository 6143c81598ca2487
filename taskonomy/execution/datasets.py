"""Dataset sources other than the built-in world, adapted to the split interface of the jobs."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from taskonomy.data import TaskonomyFolderDataset
from taskonomy.errors import InvalidInputError

SPLIT_ORDER: tuple[str, ...] = ("train", "transfer", "test")


def check_folder_dataset(dataset: Mapping[str, Any]) -> None:
    """Fail early when a folder dataset's root is missing (before any work starts)."""
    root = str(dataset.get("root", ""))
    if not root or not os.path.isdir(root):
        raise InvalidInputError(f"dataset.root {root!r} is not a directory (expected the Taskonomy folder layout "
                                "<domain>/<building>/point_<p>_view_<v>_domain_<domain>.png)")


class FolderSplits:
    """A Taskonomy-layout folder cut into train, transfer and test splits in item order."""

    def __init__(self, dataset: Mapping[str, Any], splits: Mapping[str, int]) -> None:
        check_folder_dataset(dataset)
        self.ds = TaskonomyFolderDataset(str(dataset["root"]), size=int(dataset.get("size", 64)),
                                         **dict(dataset.get("options", {})))
        need = sum(int(splits[s]) for s in SPLIT_ORDER)
        if len(self.ds) < need:
            raise InvalidInputError(f"dataset folder {dataset['root']!r} has {len(self.ds)} images; the splits "
                                    f"need {need} (train + transfer + test)")
        self.ranges: dict[str, range] = {}
        lo = 0
        for s in SPLIT_ORDER:
            self.ranges[s] = range(lo, lo + int(splits[s]))
            lo += int(splits[s])

    def keys(self) -> set[str]:
        """The sample keys this folder provides."""
        return set(self.ds.sample(0))

    def split(self, name: str, *, keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        samples = [self.ds.sample(i) for i in self.ranges[name]]
        wanted = list(keys) if keys is not None else list(samples[0])
        return {k: np.stack([s[k] for s in samples]) for k in wanted if k in samples[0]}


def load_folder_dataset(dataset: Mapping[str, Any], splits: Mapping[str, int], *,
                        sample_keys: Sequence[str] = ()) -> FolderSplits:
    """An object with ``split(name) -> dict[str, ndarray]`` reading the Taskonomy folder layout."""
    return FolderSplits(dataset, splits)
