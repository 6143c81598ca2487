"""The local executor: run a job graph on this machine, skipping jobs whose artifacts exist.

Because every artifact is content-addressed and written atomically, running the same graph
again after an interruption redoes nothing that finished, and a graph with one more task runs
only the jobs that involve it. ``plan_higher_order`` jobs extend the graph as they finish.

With ``workers > 1`` the jobs that train or evaluate networks run in that many child processes
(``spawn``ed, each with ``threads`` torch threads), as soon as the jobs they read from are done:
on a CPU, small networks train faster as several one-thread processes than as one process with
several threads, and independent task networks, feature extractions and transfers then overlap.
Rendering (which has a process pool of its own) and the light control jobs (planning,
finalising) run in this process. The artifacts are the same whichever way a job runs.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from taskonomy.contract import STAGES, Job, JobGraph, JobKind, TransferGroupParams
from taskonomy.errors import InvalidInputError, PreconditionError
from taskonomy.execution.handlers import run_job
from taskonomy.store import ArtifactStore

#: ``on_progress(stage, done, total)`` after every job (done counts executed and skipped jobs).
OnProgress = Callable[[str, int, int], None]
#: ``on_job(job, executed)`` after every job.
OnJob = Callable[[Job, bool], None]
#: Job kinds that always run in the executor's own process (see the module docstring): the light
#: control jobs, rendering (which has a process pool of its own) and the jobs that train every
#: first-order transfer in one fused loop on all of this process's threads.
IN_PROCESS_KINDS: frozenset[JobKind] = frozenset({JobKind.RENDER, JobKind.PLAN_HIGHER_ORDER, JobKind.FINALIZE,
                                                  JobKind.PROXY_FINALIZE, JobKind.TRANSFER_HALVING})


def in_process(job: Job) -> bool:
    """Whether ``job`` runs in the executor's own process (see :data:`IN_PROCESS_KINDS`)."""
    return job.kind in IN_PROCESS_KINDS or (job.kind == JobKind.TRANSFER_GROUP
                                            and job.typed(TransferGroupParams).by == "all")


@dataclass
class RunStats:
    """What a run did: job ids executed and skipped (artifacts already there), time per stage.

    ``stage_seconds`` is the elapsed time during which at least one job of the stage ran (with
    one worker: the sum of its jobs' times); ``stage_cpu_seconds`` the CPU time of those jobs
    (all threads, in whichever process ran them: the honest cost on a machine shared with others;
    the render stage's own child processes are not counted).
    """

    executed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    stage_executed: dict[str, int] = field(default_factory=dict)
    stage_cpu_seconds: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    #: Processes that ran the network jobs (1: this process).
    workers: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"executed": len(self.executed), "skipped": len(self.skipped), "seconds": round(self.seconds, 3),
                "workers": self.workers,
                "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
                "stage_executed": dict(self.stage_executed),
                "stage_cpu_seconds": {k: round(v, 3) for k, v in self.stage_cpu_seconds.items()}}


def _union_length(intervals: list[tuple[float, float]]) -> float:
    """Total length covered by ``(start, end)`` intervals."""
    total, reach = 0.0, float("-inf")
    for lo, hi in sorted(intervals):
        if hi <= reach:
            continue
        total += hi - max(lo, reach)
        reach = hi
    return total


def default_workers() -> int:
    """Processes for network jobs on this machine: ``TASKONOMY_WORKERS`` if set, else one per core
    (at most 8), one when a GPU is visible (its jobs share one device)."""
    env = os.environ.get("TASKONOMY_WORKERS", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise InvalidInputError(f"TASKONOMY_WORKERS must be a positive integer, got {env!r}")
        return int(env)
    if os.environ.get("CUDA_VISIBLE_DEVICES", "").strip() not in ("", "-1"):
        return 1
    return max(1, min(8, os.cpu_count() or 1))


# -- the child processes -----------------------------------------------------------------------

_WORKER_STORE: ArtifactStore | None = None


def _init_worker(store: ArtifactStore, threads: int) -> None:
    global _WORKER_STORE
    _WORKER_STORE = store
    import torch

    torch.set_num_threads(threads)


def _run_in_worker(job: dict[str, Any], verify: bool) -> tuple[bool, float]:
    assert _WORKER_STORE is not None, "worker not initialised"
    c0 = time.process_time()
    executed = run_job(Job.from_dict(job), _WORKER_STORE, verify=verify)
    return executed, time.process_time() - c0


class LocalExecutor:
    """Runs a :class:`JobGraph` in dependency order on this machine.

    Args:
        store: where every artifact is read and written.
        on_progress: called as ``(stage, done, total)`` after each job.
        on_job: called as ``(job, executed)`` after each job.
        show_progress: draw rich progress bars (one per stage) on stderr.
        verify: check the checksum of every existing output before skipping its job (a corrupt
            artifact is then recomputed); costs one read of each artifact.
        workers: processes for the network jobs (1: everything in this process, in the graph's
            order); see the module docstring.
        threads: torch threads of each worker process (default: the cores shared out among them).
    """

    def __init__(self, store: ArtifactStore, *, on_progress: OnProgress | None = None, on_job: OnJob | None = None,
                 show_progress: bool = False, verify: bool = True, workers: int = 1,
                 threads: int | None = None) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InvalidInputError(f"workers must be a positive integer, got {workers!r}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise InvalidInputError(f"threads must be a positive integer, got {threads!r}")
        self.store = store
        self.verify = verify
        self.on_progress = on_progress
        self.on_job = on_job
        self.show_progress = show_progress
        self.workers = workers
        self.threads = threads or max(1, (os.cpu_count() or 1) // workers)

    def run(self, graph: JobGraph) -> RunStats:
        stats = RunStats(workers=self.workers)
        t_start = time.perf_counter()
        bars: Any = None
        if self.show_progress:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            bars = Progress(TextColumn("{task.description:<13}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=Console(stderr=True), transient=False)
            bars.start()
        pool: ProcessPoolExecutor | None = None
        if self.workers > 1 and any(not in_process(j) for j in graph.jobs.values()):
            pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_init_worker, initargs=(self.store, self.threads))
        schedule = _Schedule(self, graph, stats, bars, pool)
        try:
            schedule.run()
        finally:
            stats.stage_seconds = {stage: _union_length(spans) for stage, spans in schedule.intervals.items()}
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            if bars is not None:
                bars.stop()
            stats.seconds = time.perf_counter() - t_start
        return stats


class _Schedule:
    """One run of a graph: which jobs are done, running and ready; progress and statistics."""

    def __init__(self, ex: LocalExecutor, graph: JobGraph, stats: RunStats, bars: Any,
                 pool: ProcessPoolExecutor | None) -> None:
        self.ex, self.graph, self.stats, self.bars, self.pool = ex, graph, stats, bars, pool
        self.totals = graph.stage_counts()
        self.done = {s: 0 for s in STAGES}
        self.finished: set[str] = set()
        self.running: dict[Future[tuple[bool, float]], tuple[Job, float]] = {}
        self.intervals: dict[str, list[tuple[float, float]]] = {}
        self.bar_ids: dict[str, Any] = {}
        if bars is not None:
            for s in STAGES:
                if self.totals[s] or (s == "higher_order" and self.totals["plan"]):  # known once planned
                    self.bar_ids[s] = bars.add_task(s, total=self.totals[s] or None, start=False)

    def _plan(self) -> tuple[list[Job], dict[str, set[str]]]:
        return self.graph.order(), {j: self.graph.deps(j) for j in self.graph.jobs}

    def run(self) -> None:
        order, deps = self._plan()
        first = 0  # every job before order[first] is finished
        while len(self.finished) < len(self.graph.jobs):
            while first < len(order) and order[first].id in self.finished:
                first += 1
            running_ids = {job.id for job, _ in self.running.values()}
            ran_here = False
            for job in order[first:]:
                if job.id in self.finished or job.id in running_ids:
                    continue
                if not deps[job.id] <= self.finished:
                    continue
                if self.pool is None or in_process(job):
                    if self._run_here(job):
                        order, deps = self._plan()
                        first = 0
                    ran_here = True
                    break
                if len(self.running) < self.ex.workers:
                    self._start(job)
                    running_ids.add(job.id)
            if ran_here:
                continue
            if not self.running:
                raise PreconditionError("no job of the graph can run: its dependencies never finish")
            done, _ = wait(list(self.running), return_when=FIRST_COMPLETED)
            for fut in done:
                job, t0 = self.running.pop(fut)
                executed, cpu = fut.result()  # a job's error is raised here, as if it ran in this process
                self._finish(job, executed, t0, time.perf_counter(), cpu)

    def _start(self, job: Job) -> None:
        assert self.pool is not None
        self._bar_start(job)
        fut = self.pool.submit(_run_in_worker, job.to_dict(), self.ex.verify)
        self.running[fut] = (job, time.perf_counter())

    def _run_here(self, job: Job) -> bool:
        """Run ``job`` in this process; True when it added jobs to the graph."""
        self._bar_start(job)
        t0, c0 = time.perf_counter(), time.process_time()
        executed = run_job(job, self.ex.store, verify=self.ex.verify)
        return self._finish(job, executed, t0, time.perf_counter(), time.process_time() - c0)

    def _bar_start(self, job: Job) -> None:
        if self.bars is not None and job.stage in self.bar_ids:
            self.bars.start_task(self.bar_ids[job.stage])

    def _finish(self, job: Job, executed: bool, t0: float, t1: float, cpu: float) -> bool:
        st, graph = self.stats, self.graph
        st.stage_cpu_seconds[job.stage] = st.stage_cpu_seconds.get(job.stage, 0.0) + cpu
        self.intervals.setdefault(job.stage, []).append((t0, t1))
        self.finished.add(job.id)
        (st.executed if executed else st.skipped).append(job.id)
        if executed:
            st.stage_executed[job.stage] = st.stage_executed.get(job.stage, 0) + 1
        self.done[job.stage] += 1
        added: list[Job] = []
        if job.kind == JobKind.PLAN_HIGHER_ORDER:
            added = graph.expand(job, self.ex.store.get_json(job.outputs[0]))
            for new in added:
                self.totals[new.stage] += 1
            self._bars_after_plan(added)
        bars = self.bars
        if bars is not None and job.stage in self.bar_ids:
            bars.update(self.bar_ids[job.stage], completed=self.done[job.stage])
            if self.done[job.stage] == self.totals[job.stage]:
                bars.stop_task(self.bar_ids[job.stage])
        if self.ex.on_job is not None:
            self.ex.on_job(job, executed)
        if self.ex.on_progress is not None:
            self.ex.on_progress(job.stage, self.done[job.stage], self.totals[job.stage])
        return bool(added)

    def _bars_after_plan(self, added: list[Job]) -> None:
        bars = self.bars
        if bars is None:
            return
        if added:
            stage = added[0].stage
            if stage not in self.bar_ids:
                self.bar_ids[stage] = bars.add_task(stage, total=self.totals[stage], start=False)
            else:
                bars.update(self.bar_ids[stage], total=self.totals[stage])
        if "higher_order" in self.bar_ids and self.totals["higher_order"] == 0 \
                and self.done["plan"] == self.totals["plan"]:
            bars.update(self.bar_ids["higher_order"], total=0)  # every plan chose nothing
