"""Dataset sources other than the built-in world, adapted to the split interface of the jobs."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from taskonomy.errors import InvalidInputError, PreconditionError


def check_folder_dataset(dataset: Mapping[str, Any]) -> None:
    """Fail early when a folder dataset's root is missing (before any work starts)."""
    root = str(dataset.get("root", ""))
    if not root or not os.path.isdir(root):
        raise InvalidInputError(f"dataset.root {root!r} is not a directory (expected the Taskonomy folder layout "
                                "<domain>/<building>/...)")


def load_folder_dataset(dataset: Mapping[str, Any], splits: Mapping[str, int], *, sample_keys: Sequence[str]) -> Any:
    """An object with ``split(name) -> dict[str, ndarray]`` reading the Taskonomy folder layout."""
    check_folder_dataset(dataset)
    try:
        from taskonomy import data as _data
    except ImportError:
        _data = None  # type: ignore[assignment]
    reader = getattr(_data, "build_folder_dataset", None) if _data is not None else None
    if reader is None:
        raise PreconditionError("this build has no reader for the Taskonomy folder layout (taskonomy.data."
                                "build_folder_dataset); use the built-in world (dataset.kind: world)")
    return reader(str(dataset["root"]), dict(splits), size=int(dataset.get("size", 64)),
                  sample_keys=list(sample_keys), **dict(dataset.get("options", {})))
