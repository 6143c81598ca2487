"""StoredArrays: every artifact read once, one mapping object per selection of features."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from taskonomy.execution.artifacts import ARRAY, StoredArrays
from taskonomy.store import ArtifactStore


def test_reads_once_and_shares_feature_mappings(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path))
    for k, v in (("f/rgb", 1.0), ("f/rgb2", 2.0), ("labels", 3.0)):
        store.put_tensors(k, {ARRAY: np.full((2, 2), v, np.float32)})
    arrays = StoredArrays(store)
    assert arrays("labels") is arrays("labels")
    keys = {"rgb": "f/rgb", "rgb2": "f/rgb2"}
    both = arrays.features(keys)
    assert both is arrays.features(dict(reversed(keys.items())))  # same selection, same object
    assert both.keys() == {"rgb", "rgb2"} and float(both["rgb2"][0, 0]) == 2.0
    one = arrays.features(keys, ["rgb"])
    assert one is arrays.features(keys, ("rgb",)) and one is not both and one.keys() == {"rgb"}
    assert one["rgb"] is both["rgb"]  # the array itself was read once
