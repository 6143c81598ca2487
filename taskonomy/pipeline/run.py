"""Run a whole experiment locally: validate, execute the graph, write the table, taxonomy and report.

:func:`validate_experiment` checks everything a user can get wrong *before* any work starts
(tasks without data, an unreadable dataset folder, an output directory that cannot be
written); :func:`run_experiment` then runs the job graph through the
:class:`~taskonomy.pipeline.local.LocalExecutor` and copies the results out of the store.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from taskonomy.errors import InvalidInputError
from taskonomy.pipeline.graph import JobGraph, build_graph
from taskonomy.pipeline.local import LocalExecutor, OnProgress, RunStats
from taskonomy.pipeline.spec import ExperimentSpec
from taskonomy.store import ArtifactStore


@dataclass
class RunResult:
    """Where the results went and what the run did."""

    out_dir: str
    table_path: str
    taxonomy_path: str
    report_path: str | None
    taxonomy: dict[str, Any]
    stats: RunStats
    graph: JobGraph
    seconds: dict[str, float] = field(default_factory=dict)


def check_writable_dir(path: str | os.PathLike[str], *, what: str = "output directory") -> str:
    """Create ``path`` if needed and prove it can be written (a probe file); returns it absolute."""
    p = os.path.abspath(os.fspath(path))
    if os.path.exists(p) and not os.path.isdir(p):
        raise InvalidInputError(f"{what} {p!r} exists and is not a directory")
    try:
        os.makedirs(p, exist_ok=True)
        probe = os.path.join(p, f".write-probe-{uuid.uuid4().hex}")
        with open(probe, "wb") as fh:
            fh.write(b"ok")
        os.remove(probe)
    except OSError as exc:
        raise InvalidInputError(f"{what} {p!r} cannot be written: {exc.strerror or exc}") from None
    return p


def validate_experiment(spec: ExperimentSpec, *, out_dir: str | os.PathLike[str] | None = None) -> None:
    """Everything that can be checked without training: data for every task, the output dir."""
    from taskonomy.tasks import get_task

    needed: dict[str, str] = {}
    for entry in spec.tasks:
        task = get_task(entry.name)
        if not task.trainable and entry.role != "source_only":
            raise InvalidInputError(f"task {task.name!r} has nothing to learn and can only be role source_only")
        if task.target:
            needed[task.target] = task.name
        for k in task.inputs:
            needed.setdefault(k, task.name)
    if spec.dataset.kind == "world":
        from taskonomy.world import MIN_SIZE, WorldSpec, render_sample

        world = WorldSpec.from_dict({"seed": spec.dataset.seed, "size": spec.dataset.size, **spec.dataset.options})
        have = set(render_sample(WorldSpec.from_dict({**world.to_dict(), "size": max(MIN_SIZE, 16)}), 0))
    else:
        from taskonomy.pipeline.datasets import FolderSplits

        have = FolderSplits(spec.dataset.model_dump(), spec.splits.model_dump()).keys()
    for key, task_name in needed.items():
        if key not in have:
            role = spec.role(task_name)
            raise InvalidInputError(f"{role} task {task_name!r} has no data: the {spec.dataset.kind} dataset provides "
                                    f"no {key!r} (it has: {', '.join(sorted(have))})")
    if out_dir is not None:
        check_writable_dir(out_dir)
    from taskonomy.nets import ModelConfig
    from taskonomy.training import TrainConfig

    ModelConfig.from_dict(dict(spec.model))
    TrainConfig(**spec.train.model_dump(), seed=spec.seed)


def default_store_url(out_dir: str | os.PathLike[str]) -> str:
    """``OUT/artifacts``: running the same command again resumes from it."""
    return os.path.join(os.path.abspath(os.fspath(out_dir)), "artifacts")


def run_experiment(spec: ExperimentSpec, *, out_dir: str | os.PathLike[str], store: ArtifactStore | None = None,
                   show_progress: bool = False, on_progress: OnProgress | None = None, report: bool = True,
                   on_job: Callable[[Any, bool], None] | None = None) -> RunResult:
    """Validate, run every job (resuming from the store), write transfers.csv, taxonomy.json, report.html."""
    validate_experiment(spec, out_dir=out_dir)
    out = check_writable_dir(out_dir)
    store = store or ArtifactStore(default_store_url(out))
    graph = build_graph(spec)
    t0 = time.perf_counter()
    stats = LocalExecutor(store, on_progress=on_progress, on_job=on_job, show_progress=show_progress).run(graph)
    seconds = {"pipeline": time.perf_counter() - t0}
    fin = next(j for j in graph.jobs.values() if j.kind == "finalize")
    outputs = fin.params["outputs"]
    table_path = os.path.join(out, "transfers.csv")
    taxonomy_path = os.path.join(out, "taxonomy.json")
    _write(table_path, store.get_bytes(outputs["table"]))
    _write(taxonomy_path, store.get_bytes(outputs["taxonomy"]))
    from taskonomy.modelbank import Experiment, list_models, write_manifest

    write_manifest(spec, store, out)  # OUT/experiment.json: what ran, where its artifacts are
    list_models(Experiment(id=spec.content_key(), spec=spec, store=store))  # a card per network
    report_path = None
    if report:
        from taskonomy.report import write_report

        t1 = time.perf_counter()
        report_path = write_report(out, store=store, finalize_params=fin.params, title=f"Taskonomy: {spec.name}",
                                   stats=stats.to_dict(), spec=spec.model_dump(mode="json"))
        seconds["report"] = time.perf_counter() - t1
    return RunResult(out_dir=out, table_path=table_path, taxonomy_path=taxonomy_path, report_path=report_path,
                     taxonomy=store.get_json(outputs["taxonomy"]), stats=stats, graph=graph, seconds=seconds)


def _write(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
