"""The local executor: run a job graph in-process, skipping jobs whose artifacts exist.

Because every artifact is content-addressed and written atomically, running the same graph
again after an interruption redoes nothing that finished, and a graph with one more task runs
only the jobs that involve it. ``plan_higher_order`` jobs extend the graph as they finish.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from taskonomy.pipeline.graph import STAGES, Job, JobGraph
from taskonomy.pipeline.jobs import run_job
from taskonomy.store import ArtifactStore

#: ``on_progress(stage, done, total)`` after every job (done counts executed and skipped jobs).
OnProgress = Callable[[str, int, int], None]
#: ``on_job(job, executed)`` after every job.
OnJob = Callable[[Job, bool], None]


@dataclass
class RunStats:
    """What a run did: job ids executed and skipped (artifacts already there), time per stage."""

    executed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    stage_executed: dict[str, int] = field(default_factory=dict)
    #: CPU time of this process per stage (all threads): honest cost on a machine shared with others.
    stage_cpu_seconds: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"executed": len(self.executed), "skipped": len(self.skipped), "seconds": round(self.seconds, 3),
                "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
                "stage_executed": dict(self.stage_executed),
                "stage_cpu_seconds": {k: round(v, 3) for k, v in self.stage_cpu_seconds.items()}}


class LocalExecutor:
    """Runs a :class:`JobGraph` in topological order in this process.

    Args:
        store: where every artifact is read and written.
        on_progress: called as ``(stage, done, total)`` after each job.
        on_job: called as ``(job, executed)`` after each job.
        show_progress: draw rich progress bars (one per stage) on stderr.
        verify: check the checksum of every existing output before skipping its job (a corrupt
            artifact is then recomputed); costs one read of each artifact.
    """

    def __init__(self, store: ArtifactStore, *, on_progress: OnProgress | None = None, on_job: OnJob | None = None,
                 show_progress: bool = False, verify: bool = True) -> None:
        self.store = store
        self.verify = verify
        self.on_progress = on_progress
        self.on_job = on_job
        self.show_progress = show_progress

    def run(self, graph: JobGraph) -> RunStats:
        stats = RunStats()
        t_start = time.perf_counter()
        bars: Any = None
        if self.show_progress:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            bars = Progress(TextColumn("{task.description:<13}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=Console(stderr=True), transient=False)
            bars.start()
        try:
            self._run(graph, stats, bars)
        finally:
            if bars is not None:
                bars.stop()
            stats.seconds = time.perf_counter() - t_start
        return stats

    def _run(self, graph: JobGraph, stats: RunStats, bars: Any) -> None:
        totals = graph.stage_counts()
        done = {s: 0 for s in STAGES}
        bar_ids: dict[str, Any] = {}
        if bars is not None:
            for s in STAGES:
                if totals[s] or (s == "higher_order" and totals["plan"]):  # known once planned
                    bar_ids[s] = bars.add_task(s, total=totals[s] or None, start=False)
        finished: set[str] = set()
        order = graph.order()
        i = 0
        while i < len(order):
            job = order[i]
            i += 1
            if job.id in finished:
                continue
            if bars is not None and done[job.stage] == 0:
                bars.start_task(bar_ids[job.stage])
            t0, c0 = time.perf_counter(), time.process_time()
            executed = run_job(job, self.store, verify=self.verify)
            dt = time.perf_counter() - t0
            stats.stage_cpu_seconds[job.stage] = stats.stage_cpu_seconds.get(job.stage, 0.0) + time.process_time() - c0
            finished.add(job.id)
            (stats.executed if executed else stats.skipped).append(job.id)
            stats.stage_seconds[job.stage] = stats.stage_seconds.get(job.stage, 0.0) + dt
            if executed:
                stats.stage_executed[job.stage] = stats.stage_executed.get(job.stage, 0) + 1
            done[job.stage] += 1
            if job.kind == "plan_higher_order":
                added = graph.expand(job, self.store.get_json(job.outputs[0]))
                for new in added:
                    totals[new.stage] += 1
                if added:
                    order = [j for j in graph.order() if j.id not in finished]
                    i = 0
                if bars is not None and added:
                    stage = added[0].stage
                    if stage not in bar_ids:
                        bar_ids[stage] = bars.add_task(stage, total=totals[stage], start=False)
                    else:
                        bars.update(bar_ids[stage], total=totals[stage])
                if bars is not None and "higher_order" in bar_ids and totals["higher_order"] == 0 \
                        and done["plan"] == totals["plan"]:
                    bars.update(bar_ids["higher_order"], total=0)  # every plan chose nothing
            if bars is not None:
                bars.update(bar_ids[job.stage], completed=done[job.stage])
                if done[job.stage] == totals[job.stage]:
                    bars.stop_task(bar_ids[job.stage])
            if self.on_job is not None:
                self.on_job(job, executed)
            if self.on_progress is not None:
                self.on_progress(job.stage, done[job.stage], totals[job.stage])


def run_stages(graph: JobGraph, store: ArtifactStore, stages: tuple[str, ...], *,
               show_progress: bool = False) -> RunStats:
    """Run only the jobs of ``graph`` that belong to ``stages`` (e.g. everything up to the cached
    features, for the fused, halving and proxy modes that replace the transfer stage)."""
    sub = JobGraph(spec=graph.spec)
    for job in graph.jobs.values():
        if job.stage in stages:
            sub.add(job)
    return LocalExecutor(store, show_progress=show_progress).run(sub)

