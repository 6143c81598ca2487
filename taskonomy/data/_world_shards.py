"""A world's rendered shards: samples of a :class:`~taskonomy.world.WorldSpec` rendered into
safetensors files on disk (:class:`WorldShards`), built by :func:`build_world_dataset` and
opened by :func:`open_world_dataset`.

Layout of the artifact store folder ``root/<spec.key()>/``::

    world.json                                 the spec (for people; the key is its hash)
    <split>/<first index>-<count>.safetensors  one shard (see taskonomy.data._shards)

Splits are disjoint index ranges: split ``s`` of size ``n`` holds sample indices
``SPLIT_BASES[s] + [0, n)``; shards are aligned to ``shard_size`` blocks within a split, so a
larger request reuses every complete shard of a smaller one.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import current_process, get_context
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from taskonomy.data._shards import read_shard, write_shard
from taskonomy.errors import CorruptArtifactError, InvalidInputError, PreconditionError
from taskonomy.files import atomic_write
from taskonomy.world import WorldSpec, render_sample

log = logging.getLogger(__name__)

SplitName = Literal["train", "transfer", "test"]
SPLITS: tuple[str, ...] = ("train", "transfer", "test")
#: First sample index of each split; splits never overlap below MAX_SPLIT samples.
MAX_SPLIT = 10**9
SPLIT_BASES: dict[str, int] = {"train": 0, "transfer": MAX_SPLIT, "test": 2 * MAX_SPLIT}
DEFAULT_SHARD_SIZE = 64


@dataclass(frozen=True)
class SplitSizes:
    """Number of samples in each split (train: task networks; transfer: the small split; test)."""

    train: int
    transfer: int
    test: int

    def __post_init__(self) -> None:
        for name in SPLITS:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_SPLIT:
                raise InvalidInputError(f"split size {name}={v!r} must be an integer in 0..{MAX_SPLIT}")

    def get(self, name: str) -> int:
        _check_split(name)
        return int(getattr(self, name))


def _check_split(name: str) -> None:
    if name not in SPLITS:
        raise InvalidInputError(f"unknown split {name!r}; known: {', '.join(SPLITS)}")


def split_indices(name: str, n: int) -> range:
    """The sample indices of split ``name`` with ``n`` samples."""
    _check_split(name)
    return range(SPLIT_BASES[name], SPLIT_BASES[name] + n)


@dataclass(frozen=True)
class ShardJob:
    split: str
    start: int  # first sample index
    count: int
    path: Path


def _plan(folder: Path, splits: SplitSizes, shard_size: int) -> list[ShardJob]:
    jobs = []
    for name in SPLITS:
        n = splits.get(name)
        base = SPLIT_BASES[name]
        for off in range(0, n, shard_size):
            count = min(shard_size, n - off)
            start = base + off
            jobs.append(ShardJob(name, start, count, folder / name / f"{start:010d}-{count}.safetensors"))
    return jobs


def render_block(spec: WorldSpec, start: int, count: int) -> dict[str, NDArray[np.generic]]:
    """Render samples ``start .. start + count - 1`` and stack each key along a leading axis."""
    samples = [render_sample(spec, i) for i in range(start, start + count)]
    return {k: np.stack([s[k] for s in samples]) for k in samples[0]}


def _render_job(spec_dict: dict[str, object], start: int, count: int, path: str) -> int:
    spec = WorldSpec.from_dict(spec_dict)
    write_shard(Path(path), render_block(spec, start, count),
                info={"world_key": spec.key(), "start": start, "count": count})
    return count


@contextmanager
def _single_threaded_children() -> Iterator[None]:
    """Worker processes inherit one BLAS/OpenMP thread each (they render in parallel already)."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    old = {n: os.environ.get(n) for n in names}
    os.environ.update({n: "1" for n in names})
    try:
        yield
    finally:
        for n, v in old.items():
            if v is None:
                os.environ.pop(n, None)
            else:
                os.environ[n] = v


def _shard_ok(job: ShardJob) -> bool:
    if not job.path.exists():
        return False
    try:
        read_shard(job.path, keys=())
    except CorruptArtifactError as exc:
        log.warning("re-rendering corrupt shard: %s", exc)
        return False
    return True


class WorldShards:
    """The rendered shards of one world on disk, by split; :meth:`split` loads a split into memory.

    Not to be confused with the experiment spec's ``WorldDataset`` (which world an experiment asks
    for): this is what rendering that world left under ``root/<spec.key()>/``.
    """

    def __init__(self, spec: WorldSpec, splits: SplitSizes, root: str | Path, *,
                 shard_size: int = DEFAULT_SHARD_SIZE) -> None:
        self.spec = spec
        self.splits = splits
        self.shard_size = shard_size
        self.folder = Path(root) / spec.key()
        self.jobs = _plan(self.folder, splits, shard_size)

    def shard_paths(self, name: str) -> list[Path]:
        _check_split(name)
        return [j.path for j in self.jobs if j.split == name]

    def missing(self) -> list[Path]:
        return [j.path for j in self.jobs if not j.path.exists()]

    def split(self, name: SplitName | str, *, keys: Iterable[str] | None = None) -> dict[str, NDArray[np.generic]]:
        """All samples of a split, every key (or only ``keys``) stacked along a leading N axis.

        Decoded to the sample contract's dtypes (float32 images): pass ``keys`` (a task's inputs
        and target) to keep large splits small in memory.

        Raises PreconditionError when a shard was never rendered, CorruptArtifactError when one
        fails its checksum.
        """
        paths = self.shard_paths(name)
        if not paths:
            return {}
        wanted = None if keys is None else list(keys)
        out: dict[str, NDArray[np.generic]] = {}
        total = sum(job.count for job in self.jobs if job.split == name)
        at = 0
        for p in paths:  # shard by shard into arrays allocated once: the split is held in memory once, not twice
            if not p.exists():
                raise PreconditionError(f"shard {p} has not been rendered; run `taskonomy world render` or "
                                        "build_world_dataset first")
            part = read_shard(p, keys=wanted)
            n = len(next(iter(part.values()))) if part else 0
            for k, v in part.items():
                if k not in out:
                    out[k] = np.empty((total, *v.shape[1:]), dtype=v.dtype)
                out[k][at:at + n] = v
            at += n
        assert at == total, f"split {name}: {at} samples in its shards, {total} expected"
        return out


def build_world_dataset(spec: WorldSpec, splits: SplitSizes, root: str | Path, *, workers: int | None = None,
                        progress: bool = False, shard_size: int = DEFAULT_SHARD_SIZE) -> WorldShards:
    """Render the missing (or corrupt) shards of ``spec`` into ``root/<spec.key()>/`` and return the dataset.

    Existing shards are verified and reused (a corrupt one is logged and rendered again). Shards
    render in parallel over ``workers`` processes (default: all cores; serially inside a daemonic
    process such as a Celery worker child), each sample a pure function of ``(spec, index)``.
    """
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or not 1 <= shard_size <= 100_000:
        raise InvalidInputError(f"shard_size must be an integer in 1..100000, got {shard_size!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 512):
        raise InvalidInputError(f"workers must be an integer in 1..512, got {workers!r}")
    ds = WorldShards(spec, splits, root, shard_size=shard_size)
    ds.folder.mkdir(parents=True, exist_ok=True)
    spec_file = ds.folder / "world.json"
    if not spec_file.exists():
        atomic_write(spec_file, json.dumps({"key": spec.key(), "spec": spec.to_dict()}, indent=2))
    todo = [j for j in ds.jobs if not _shard_ok(j)]
    total = sum(j.count for j in todo)
    n_workers = min(workers or os.cpu_count() or 1, max(1, len(todo)))
    if current_process().daemon:  # e.g. a Celery prefork child: daemons may not start processes
        n_workers = 1
    t0 = time.perf_counter()
    with _progress(progress, total) as advance:
        if n_workers <= 1:
            for j in todo:
                advance(_render_job(spec.to_dict(), j.start, j.count, str(j.path)))
        elif todo:
            with _single_threaded_children(), ProcessPoolExecutor(n_workers, mp_context=get_context("spawn")) as pool:
                futures = [pool.submit(_render_job, spec.to_dict(), j.start, j.count, str(j.path)) for j in todo]
                for fut in as_completed(futures):
                    advance(fut.result())
    if todo:
        log.info("rendered %d samples in %.1f s with %d workers", total, time.perf_counter() - t0, n_workers)
    return ds


@contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Callable[[int], object]]:
    if not enabled or total == 0:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("rendering"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task("render", total=total)
        yield lambda n: bar.advance(task, n)


def open_world_dataset(spec: WorldSpec, splits: SplitSizes, root: str | Path, *,
                       shard_size: int = DEFAULT_SHARD_SIZE) -> WorldShards:
    """The dataset of already rendered shards (no rendering); missing shards raise PreconditionError."""
    ds = WorldShards(spec, splits, root, shard_size=shard_size)
    missing = ds.missing()
    if missing:
        raise PreconditionError(f"{len(missing)} shard(s) of world {spec.key()} are missing under {ds.folder} "
                                f"(first: {missing[0].name}); render them first")
    return ds
