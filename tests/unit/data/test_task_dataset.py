from __future__ import annotations

import numpy as np
import pytest
import torch

from taskonomy.data import TaskDataset
from taskonomy.errors import NotFoundError
from taskonomy.tasks import BUILTIN_TASKS, TaskSpec, get_task
from taskonomy.world import WorldSpec, render_sample


@pytest.fixture(scope="module")
def arrays() -> dict[str, np.ndarray]:
    samples = [render_sample(WorldSpec(seed=5, size=16), i) for i in range(2)]
    return {k: np.stack([s[k] for s in samples]) for k in samples[0]}


@pytest.mark.parametrize("task", BUILTIN_TASKS, ids=lambda t: t.name)
def test_items_have_the_task_shapes(arrays: dict[str, np.ndarray], task: TaskSpec) -> None:
    ds = TaskDataset(arrays, task)
    assert len(ds) == 2
    xs, y = ds[1]
    assert len(xs) == len(task.inputs)
    assert all(x.shape == (3, 16, 16) and x.dtype == torch.float32 for x in xs)
    if task.trainable:
        assert tuple(y.shape) == task.output.target_shape(16)
        assert str(y.dtype) == f"torch.{task.output.target_dtype()}"
    else:
        assert y.numel() == 0


def test_missing_keys_are_named() -> None:
    with pytest.raises(NotFoundError, match="depth_zbuffer"):
        TaskDataset({"rgb": np.zeros((1, 3, 8, 8), np.float32)}, get_task("depth_zbuffer"))


def test_importing_the_data_package_does_not_load_torch() -> None:
    import subprocess
    import sys

    code = "import sys, taskonomy.data, taskonomy.world; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
