"""Datasets: world shards with disjoint splits, a torch Dataset per task, the real Taskonomy layout.

``TaskDataset`` (the only torch-dependent piece) is imported lazily, so importing
``taskonomy.data`` never loads torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskonomy.data._shards import read_shard, write_shard
from taskonomy.data._taskonomy_folder import TaskonomyFolderDataset
from taskonomy.data._world_dataset import (
    DEFAULT_SHARD_SIZE,
    SPLIT_BASES,
    SPLITS,
    SplitSizes,
    WorldDataset,
    build_world_dataset,
    open_world_dataset,
    render_block,
    split_indices,
)

if TYPE_CHECKING:
    from taskonomy.data._torch import TaskDataset

__all__ = [
    "DEFAULT_SHARD_SIZE", "SPLITS", "SPLIT_BASES", "SplitSizes", "TaskDataset", "TaskonomyFolderDataset",
    "WorldDataset", "build_world_dataset", "open_world_dataset", "read_shard", "render_block", "split_indices",
    "write_shard",
]


def __getattr__(name: str) -> Any:
    if name == "TaskDataset":
        from taskonomy.data._torch import TaskDataset  # torch: only for whoever asks for it

        return TaskDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
