"""The torch Dataset over stacked sample arrays (the only module of taskonomy.data importing torch)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import Dataset

from taskonomy.errors import InvalidInputError, NotFoundError
from taskonomy.tasks import TaskSpec


class TaskDataset(Dataset[tuple[tuple[torch.Tensor, ...], torch.Tensor]]):
    """Items ``(inputs, target)`` of one task over arrays stacked along a leading N axis.

    ``inputs`` holds one float32 ``(3, H, W)`` tensor per key of ``task.inputs``; ``target`` has
    the task's target shape and dtype (an empty float tensor for tasks without a target).
    The tensors share memory with the arrays (no copies).
    """

    def __init__(self, arrays: Mapping[str, NDArray[np.generic]], task: TaskSpec) -> None:
        needed = list(task.inputs) + ([task.target] if task.target else [])
        missing = [k for k in needed if k not in arrays]
        if missing:
            raise NotFoundError(f"task {task.name} needs key(s) {', '.join(missing)}; "
                                f"available: {', '.join(sorted(arrays))}")
        lengths = {len(arrays[k]) for k in needed}
        if len(lengths) != 1:
            raise InvalidInputError(f"arrays for task {task.name} have different lengths {sorted(lengths)}")
        self.task = task
        self.n = lengths.pop()
        self.inputs = [torch.from_numpy(np.ascontiguousarray(arrays[k], dtype=np.float32)) for k in task.inputs]
        self.target = (torch.from_numpy(np.ascontiguousarray(arrays[task.target])) if task.target
                       else torch.zeros((self.n, 0)))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        return tuple(x[i] for x in self.inputs), self.target[i]
