"""Run a whole experiment locally: validate, execute the graph, write the table and the taxonomy.

:func:`validate_experiment` checks everything a user can get wrong *before* any work starts
(tasks without data, an unreadable dataset folder, an output directory that cannot be
written; the spec itself was validated when it was built); :func:`run_experiment` then runs the
job graph through the :class:`~taskonomy.execution.local.LocalExecutor` and copies the results
out of the store. Execution only produces artifacts: the model cards and the report read
them afterwards (:func:`taskonomy.run_outputs.publish_run`, which ``taskonomy run`` calls).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from taskonomy.contract import ExperimentSpec, FinalizeParams, JobGraph, WorldDataset, build_graph
from taskonomy.errors import InvalidInputError
from taskonomy.execution.datasets import FolderSplits
from taskonomy.execution.local import LocalExecutor, OnProgress, RunStats
from taskonomy.files import atomic_write, check_writable_dir
from taskonomy.store import ArtifactStore
from taskonomy.tasks import get_task
from taskonomy.world import MIN_SIZE, render_sample

__all__ = ["RunResult", "check_writable_dir", "default_store_url", "run_experiment", "validate_experiment"]


@dataclass
class RunResult:
    """Where the results went and what the run did."""

    out_dir: str
    table_path: str
    taxonomy_path: str
    taxonomy: dict[str, Any]
    stats: RunStats
    graph: JobGraph
    store: ArtifactStore
    seconds: dict[str, float] = field(default_factory=dict)
    #: ``proxies.csv`` of a proxy-estimated run (``affinity.estimate: proxy``), else None.
    proxies_path: str | None = None

    def finalize_params(self) -> FinalizeParams | None:
        """The finalize job's params (where the table, taxonomy, summary and losses are); None for a
        proxy-estimated run, which has no trained candidates, summary or losses."""
        return None if self.graph.spec.affinity.estimate == "proxy" else self.graph.finalize_params()


def validate_experiment(spec: ExperimentSpec, *, out_dir: str | os.PathLike[str] | None = None) -> None:
    """Everything that can be checked without training: data for every task, the output dir."""
    needed: dict[str, str] = {}
    for entry in spec.tasks:
        task = get_task(entry.name)
        if not task.trainable and entry.role != "source_only":
            raise InvalidInputError(f"task {task.name!r} has nothing to learn and can only be role source_only")
        if task.target:
            needed[task.target] = task.name
        for k in task.inputs:
            needed.setdefault(k, task.name)
    if isinstance(spec.dataset, WorldDataset):
        world = spec.dataset.world()
        have = set(render_sample(type(world).from_dict({**world.to_dict(), "size": max(MIN_SIZE, 16)}), 0))
    else:
        have = FolderSplits(spec.dataset.model_dump(), spec.splits.model_dump()).keys()
    for key, task_name in needed.items():
        if key not in have:
            role = spec.role(task_name)
            raise InvalidInputError(f"{role} task {task_name!r} has no data: the {spec.dataset.kind} dataset provides "
                                    f"no {key!r} (it has: {', '.join(sorted(have))})")
    if out_dir is not None:
        check_writable_dir(out_dir)


def default_store_url(out_dir: str | os.PathLike[str]) -> str:
    """``OUT/artifacts``: running the same command again resumes from it."""
    return os.path.join(os.path.abspath(os.fspath(out_dir)), "artifacts")


def run_experiment(spec: ExperimentSpec, *, out_dir: str | os.PathLike[str], store: ArtifactStore | None = None,
                   show_progress: bool = False, on_progress: OnProgress | None = None,
                   on_job: Callable[[Any, bool], None] | None = None, workers: int = 1,
                   threads: int | None = None) -> RunResult:
    """Validate, run every job (resuming from the store), write ``transfers.csv`` and ``taxonomy.json``.

    ``workers`` processes run the network jobs, each with ``threads`` torch threads
    (:class:`~taskonomy.execution.local.LocalExecutor`); the artifacts do not depend on them.
    """
    validate_experiment(spec, out_dir=out_dir)
    out = check_writable_dir(out_dir)
    store = store or ArtifactStore(default_store_url(out))
    graph = build_graph(spec)
    t0 = time.perf_counter()
    stats = LocalExecutor(store, on_progress=on_progress, on_job=on_job, show_progress=show_progress,
                          workers=workers, threads=threads).run(graph)
    seconds = {"pipeline": time.perf_counter() - t0}
    table_path = os.path.join(out, "transfers.csv")
    taxonomy_path = os.path.join(out, "taxonomy.json")
    atomic_write(table_path, store.get_bytes(graph.results["table"]))
    atomic_write(taxonomy_path, store.get_bytes(graph.results["taxonomy"]))
    proxies_path = None
    if "proxies" in graph.results:
        proxies_path = os.path.join(out, "proxies.csv")
        atomic_write(proxies_path, store.get_bytes(graph.results["proxies"]))
    return RunResult(out_dir=out, table_path=table_path, taxonomy_path=taxonomy_path,
                     taxonomy=store.get_json(graph.results["taxonomy"]), stats=stats, graph=graph, store=store,
                     seconds=seconds, proxies_path=proxies_path)
