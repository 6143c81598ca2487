from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from taskonomy.data import (
    SPLITS,
    SplitSizes,
    build_world_dataset,
    open_world_dataset,
    read_shard,
    split_indices,
)
from taskonomy.errors import CorruptArtifactError, InvalidInputError, PreconditionError
from taskonomy.tasks import BUILTIN_TASKS, TaskSpec
from taskonomy.world import WorldSpec, render_sample

SPEC = WorldSpec(seed=3, size=16)
SIZES = SplitSizes(train=3, transfer=2, test=2)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("store")
    return build_world_dataset(SPEC, SIZES, root, workers=1, shard_size=2)


def test_shards_live_under_the_spec_key_and_splits_have_their_sizes(built) -> None:
    assert built.folder.name == SPEC.key()
    assert (built.folder / "world.json").exists()
    for name in SPLITS:
        arrays = built.split(name)
        assert len(arrays["rgb"]) == SIZES.get(name)
        assert arrays["rgb"].shape[1:] == (3, 16, 16) and arrays["rgb"].dtype == np.float32


@pytest.mark.parametrize("task", [t for t in BUILTIN_TASKS if t.trainable], ids=lambda t: t.name)
def test_split_arrays_follow_the_sample_contract(built, task: TaskSpec) -> None:
    arrays = built.split("test", keys=[*task.inputs, task.target])
    y = arrays[task.target]
    assert y.shape == (2, *task.output.target_shape(16))
    assert y.dtype == np.dtype(task.output.target_dtype())


def test_shards_hold_the_rendered_samples(built) -> None:
    arrays = built.split("transfer")
    first = render_sample(SPEC, split_indices("transfer", 2)[0])
    assert np.abs(arrays["rgb"][0] - first["rgb"]).max() <= 0.5 / 255 + 1e-6  # 8-bit storage
    assert np.allclose(arrays["depth_zbuffer"][0], first["depth_zbuffer"], rtol=1e-3)  # float16 storage
    assert np.array_equal(arrays["segment_semantic"][0], first["segment_semantic"])
    assert np.array_equal(arrays["egomotion"][0], first["egomotion"])


def test_splits_are_disjoint(built) -> None:
    ranges = [set(split_indices(s, 10**6)) for s in SPLITS]
    assert not (ranges[0] & ranges[1]) and not (ranges[0] & ranges[2]) and not (ranges[1] & ranges[2])
    seen: set[bytes] = set()
    for name in SPLITS:
        for img in built.split(name, keys=["rgb"])["rgb"]:
            assert img.tobytes() not in seen
            seen.add(img.tobytes())


def test_existing_shards_are_reused(built) -> None:
    mtimes = {p: p.stat().st_mtime_ns for p in built.folder.rglob("*.safetensors")}
    again = build_world_dataset(SPEC, SIZES, built.folder.parent, workers=1, shard_size=2)
    assert {p: p.stat().st_mtime_ns for p in again.folder.rglob("*.safetensors")} == mtimes


def test_corrupt_shard_is_detected_and_rebuilt(tmp_path: Path) -> None:
    ds = build_world_dataset(SPEC, SplitSizes(2, 0, 0), tmp_path, workers=1, shard_size=2)
    shard = ds.shard_paths("train")[0]
    raw = bytearray(shard.read_bytes())
    raw[-100] ^= 0xFF  # flip one byte of tensor data
    shard.write_bytes(bytes(raw))
    with pytest.raises(CorruptArtifactError):
        ds.split("train")
    shard.write_bytes(bytes(raw[:50]))  # truncated: header no longer parses
    with pytest.raises(CorruptArtifactError):
        read_shard(shard)
    rebuilt = build_world_dataset(SPEC, SplitSizes(2, 0, 0), tmp_path, workers=1, shard_size=2)
    assert len(rebuilt.split("train")["rgb"]) == 2


def test_missing_shards_and_bad_sizes(tmp_path: Path) -> None:
    with pytest.raises(PreconditionError):
        open_world_dataset(SPEC, SplitSizes(1, 0, 0), tmp_path)
    with pytest.raises(InvalidInputError):
        SplitSizes(-1, 0, 0)
    with pytest.raises(InvalidInputError):
        build_world_dataset(SPEC, SplitSizes(1, 0, 0), tmp_path, shard_size=0)
    with pytest.raises(InvalidInputError):
        open_world_dataset(SPEC, SplitSizes(0, 0, 0), tmp_path).split("validation")


@pytest.mark.slow
def test_parallel_rendering_equals_serial_rendering(tmp_path: Path, built) -> None:
    par = build_world_dataset(SPEC, SIZES, tmp_path, workers=2, shard_size=1)
    for name in SPLITS:
        a, b = built.split(name), par.split(name)
        assert a.keys() == b.keys()
        for k in a:
            assert np.array_equal(a[k], b[k]), (name, k)
    assert os.listdir(par.folder / "train")
