"""Datasets: world shards with disjoint splits, a torch Dataset per task, the real Taskonomy layout.

Where things live (import them from ``taskonomy.data``):

- ``_world_shards``: :class:`WorldShards`, the rendered shards of one world on disk by split
  (:func:`build_world_dataset` renders the missing ones, :func:`open_world_dataset` opens them),
  the split sizes and index ranges;
- ``_shards``: one shard file (:func:`read_shard`, :func:`write_shard`; 8-bit images, float16
  geometry, a checksum);
- ``_taskonomy_folder``: :class:`TaskonomyFolderDataset`, the real Taskonomy release's layout;
- ``_torch``: :class:`TaskDataset`, a torch Dataset of one task's inputs and target.

``TaskDataset`` (the only torch-dependent piece) is imported lazily, so importing
``taskonomy.data`` never loads torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskonomy.data._shards import read_shard, write_shard
from taskonomy.data._taskonomy_folder import TaskonomyFolderDataset
from taskonomy.data._world_shards import (
    DEFAULT_SHARD_SIZE,
    SPLIT_BASES,
    SPLITS,
    SplitSizes,
    WorldShards,
    build_world_dataset,
    open_world_dataset,
    render_block,
    split_indices,
)

if TYPE_CHECKING:
    from taskonomy.data._torch import TaskDataset

__all__ = [
    "DEFAULT_SHARD_SIZE", "SPLITS", "SPLIT_BASES", "SplitSizes", "TaskDataset", "TaskonomyFolderDataset",
    "WorldShards", "build_world_dataset", "open_world_dataset", "read_shard", "render_block", "split_indices",
    "write_shard",
]


def __getattr__(name: str) -> Any:
    if name == "TaskDataset":
        from taskonomy.data._torch import TaskDataset  # torch: only for whoever asks for it

        return TaskDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
