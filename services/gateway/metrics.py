"""``/metrics``: the catalogue of :mod:`services.common.metrics`, with the gauges that describe
shared state refreshed from Redis at scrape time.

- ``taskonomy_queue_depth{queue}``: waiting messages of each Celery queue, over the lists that
  :func:`services.common.queues.queue_lists` names (the same ones the chart's KEDA triggers read);
- ``taskonomy_experiments{state}``: experiments by state, from the state store;
- ``taskonomy_jobs{state}`` (pending, done, failed) and ``taskonomy_experiment_progress_ratio{stage}``:
  over the active (PENDING, RUNNING, CANCELLING) experiments;
- ``taskonomy_workers{queue}``: workers consuming each queue, counted by :class:`WorkerCounter`;
- ``taskonomy_redis_up``: 1 when this refresh read Redis, 0 when it could not (then the gauges
  above have no samples, so an empty queue and an unknown one differ).

The request latency histogram is observed by :mod:`services.gateway.middleware`; job durations
and finished jobs are recorded by the workers in Redis and exported by
:class:`services.common.jobmetrics.RedisJobMetricsCollector` on a per-app registry.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from services.common.jobmetrics import RedisJobMetricsCollector
from services.common.metrics import EXPERIMENT_PROGRESS, EXPERIMENTS, JOBS, QUEUE_DEPTH, REDIS_UP, REGISTRY, WORKERS
from services.common.queues import queue_depths
from services.common.state import STATES

log = logging.getLogger("services.gateway")

ACTIVE_STATES = ("PENDING", "RUNNING", "CANCELLING")
JOB_STATES = ("pending", "done", "failed")

class WorkerCounter:
    """Counts the Celery workers consuming each queue (``inspect().active_queues()``, a broadcast
    that waits ``timeout_s`` for replies) in a background thread every ``period_s`` seconds, so a
    scrape never waits for the broadcast. Started and stopped by the app's lifespan."""

    def __init__(self, ctx: Any, *, period_s: float, timeout_s: float = 1.0) -> None:
        self.ctx = ctx
        self.period_s = period_s
        self.timeout_s = timeout_s
        self.counts: dict[str, int] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> dict[str, int]:
        replies = self.ctx.celery.control.inspect(timeout=self.timeout_s).active_queues() or {}
        counts = dict.fromkeys(self.ctx.settings.queues, 0)
        for queues in replies.values():
            for name in {q.get("name") for q in queues or () if isinstance(q, dict)}:
                if isinstance(name, str) and name in counts:
                    counts[name] += 1
        self.counts = counts
        return counts

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception as exc:  # broker away: keep the last counts
                log.warning("metrics: cannot count workers: %s", type(exc).__name__)
            self._stop.wait(self.period_s)

    def start(self) -> None:
        if self._thread is None and self.period_s > 0:
            self._thread = threading.Thread(target=self._run, name="gateway-worker-count", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 1)  # a daemon: never hold a shutdown long
            self._thread = None


def job_registry(broker_url: str, *, prefix: str) -> CollectorRegistry:
    """A registry of this gateway's own collectors: the workers' job metrics, read from Redis at
    scrape time (:class:`services.common.jobmetrics.RedisJobMetricsCollector`)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisJobMetricsCollector(broker_url, prefix=prefix))
    return registry


def refresh(ctx: Any) -> None:
    """Set the state gauges from Redis (queue lengths, experiments and jobs by state)."""
    for q, n in queue_depths(ctx.redis, ctx.settings.queues).items():
        QUEUE_DEPTH.labels(queue=q).set(n)

    state = ctx.state
    counts = state.count_by_state()
    for s in STATES:
        EXPERIMENTS.labels(state=s).set(counts.get(s, 0))

    jobs = dict.fromkeys(JOB_STATES, 0)
    stages: dict[str, list[int]] = {}
    if any(counts.get(s, 0) for s in ACTIVE_STATES):
        for record in state.list(limit=10_000):
            if record.state not in ACTIVE_STATES:
                continue
            for stage, p in record.stages.items():
                jobs["done"] += p.done
                jobs["failed"] += p.failed
                jobs["pending"] += max(0, p.total - p.done - p.failed)
                acc = stages.setdefault(stage, [0, 0])
                acc[0] += p.done
                acc[1] += p.total
    for s, n in jobs.items():
        JOBS.labels(state=s).set(n)
    workers = getattr(ctx, "workers", None)
    if workers is not None and workers.counts is not None:
        for q, n in workers.counts.items():
            WORKERS.labels(queue=q).set(n)
    EXPERIMENT_PROGRESS.clear()
    for stage, (done, total) in stages.items():
        EXPERIMENT_PROGRESS.labels(stage=stage).set(done / total if total else 0.0)


def exposition(ctx: Any) -> tuple[bytes, str]:
    """The exposition text, after a refresh. While Redis cannot be read, ``taskonomy_redis_up`` is 0
    and the gauges read from it have no samples (unknown is not zero); the scrape never fails."""
    try:
        refresh(ctx)
        REDIS_UP.set(1)
    except Exception as exc:  # never fail a scrape because Redis is away
        log.warning("metrics: cannot refresh from Redis: %s", type(exc).__name__)
        REDIS_UP.set(0)
        for gauge in (QUEUE_DEPTH, EXPERIMENTS, JOBS, EXPERIMENT_PROGRESS, WORKERS):
            gauge.clear()
    return generate_latest(REGISTRY) + generate_latest(ctx.job_metrics), CONTENT_TYPE_LATEST
