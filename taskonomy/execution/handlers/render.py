"""``render``: render the built-in world's splits (or load a folder dataset's) into data artifacts."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from typing import Any

from taskonomy.contract import Job, RenderParams, WorldDataset
from taskonomy.data import SplitSizes, build_world_dataset
from taskonomy.errors import PreconditionError
from taskonomy.execution.artifacts import write_array
from taskonomy.execution.datasets import load_folder_dataset
from taskonomy.execution.handlers._types import Progress
from taskonomy.store import ArtifactStore


def run(job: Job, store: ArtifactStore, progress: Progress) -> None:
    p = job.typed(RenderParams)
    sizes = p.splits.model_dump()
    if isinstance(p.dataset, WorldDataset):
        with tempfile.TemporaryDirectory(prefix="taskonomy-render-") as tmp:
            ds = build_world_dataset(p.dataset.world(), SplitSizes(**sizes), tmp,
                                     workers=render_workers(sum(sizes.values())), progress=False)
            _store_splits(store, ds, p.keys, p.dataset.kind)
    else:
        folder = load_folder_dataset(p.dataset.model_dump(), sizes,
                                     sample_keys=sorted({k for m in p.keys.values() for k in m}))
        _store_splits(store, folder, p.keys, p.dataset.kind)


def render_workers(n_samples: int) -> int | None:
    """Render processes: ``TASKONOMY_RENDER_WORKERS``, else one for tiny worlds (spawning costs more)."""
    env = os.environ.get("TASKONOMY_RENDER_WORKERS")
    if env and env.isdigit() and int(env) >= 1:
        return int(env)
    return 1 if n_samples <= 512 else None


def _store_splits(store: ArtifactStore, ds: Any, keys: Mapping[str, Mapping[str, str]], kind: str) -> None:
    for split, kmap in keys.items():
        todo = {k: v for k, v in kmap.items() if not store.exists(v)}
        if not todo:
            continue
        try:
            arrays = ds.split(split, keys=sorted(todo))
        except TypeError:
            arrays = ds.split(split)
        for sample_key, dkey in todo.items():
            if sample_key not in arrays:
                raise PreconditionError(f"the {kind} dataset has no {sample_key!r} data on split {split!r} (it has: "
                                        f"{', '.join(sorted(arrays))})")
            write_array(store, dkey, arrays[sample_key], split=split, sample_key=sample_key)
