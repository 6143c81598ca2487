"""``/metrics``: the catalogue of :mod:`services.metric_catalog`, with the gauges that describe
shared state refreshed from Redis at scrape time.

- ``taskonomy_queue_depth{queue}``: waiting messages of each Celery queue, over the lists that
  :func:`services.queue.queues.queue_lists` names (the same ones the chart's KEDA triggers read);
- ``taskonomy_experiments{state}``: experiments by state, from the state store;
- ``taskonomy_jobs{state}`` (pending, done, failed) and ``taskonomy_experiment_progress_ratio{stage}``:
  over the active (PENDING, RUNNING, CANCELLING) experiments; ``taskonomy_experiment_stalled_seconds``:
  the longest time a RUNNING experiment has gone without a job finishing;
- ``taskonomy_workers{queue}``: live workers consuming each queue, and ``taskonomy_workers_lost``:
  workers that stopped beating without stopping cleanly (:mod:`services.queue.heartbeats`);
- ``taskonomy_redis_up``: 1 when this refresh read Redis, 0 when it could not (then the gauges
  above have no samples, so an empty queue and an unknown one differ);
- ``taskonomy_dependency_up{dependency}``: redis, solver, store, each checked at scrape time
  (:mod:`services.gateway.dependencies`).

Every figure read from Redis is cluster-wide: each gateway replica exports the same value, so
dashboards and alerts take the ``max`` over gateways (:data:`services.metric_catalog.CLUSTER_METRICS`).

The request latency histogram is observed by :mod:`services.gateway.middleware`; job durations
and finished jobs are recorded by the workers in Redis and exported by
:class:`services.queue.job_metrics.RedisJobMetricsCollector` on a per-app registry.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from services.gateway.dependencies import check_dependencies
from services.metric_catalog import (
    EXPERIMENT_PROGRESS,
    EXPERIMENT_STALLED,
    EXPERIMENTS,
    JOBS,
    QUEUE_DEPTH,
    REDIS_UP,
    REGISTRY,
    WORKERS,
    WORKERS_LOST,
)
from services.queue.heartbeats import census
from services.queue.job_metrics import RedisJobMetricsCollector
from services.queue.queues import queue_depths
from services.queue.state import ACTIVE, STATES

log = logging.getLogger("services.gateway")

JOB_STATES = ("pending", "done", "failed")

def job_registry(broker_url: str, *, prefix: str) -> CollectorRegistry:
    """A registry of this gateway's own collectors: the workers' job metrics, read from Redis at
    scrape time (:class:`services.queue.job_metrics.RedisJobMetricsCollector`)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisJobMetricsCollector(broker_url, prefix=prefix))
    return registry


def refresh(ctx: Any) -> None:
    """Set the state gauges from Redis (queue lengths, experiments and jobs by state)."""
    r = ctx.redis
    queues = tuple(ctx.settings.queues)
    for q, n in queue_depths(r, queues).items():
        QUEUE_DEPTH.labels(queue=q).set(n)

    state = ctx.state
    counts = state.count_by_state()
    for s in STATES:
        EXPERIMENTS.labels(state=s).set(counts.get(s, 0))

    jobs = dict.fromkeys(JOB_STATES, 0)
    stages: dict[str, list[int]] = {}
    stalled = 0.0
    now = time.time()
    if any(counts.get(s, 0) for s in ACTIVE):
        for record in state.list(limit=10_000):
            if record.state not in ACTIVE:
                continue
            if record.state == "RUNNING":
                stalled = max(stalled, now - (record.progress_at or record.updated_at))
            for stage, p in record.stages.items():
                jobs["done"] += p.done
                jobs["failed"] += p.failed
                jobs["pending"] += max(0, p.total - p.done - p.failed)
                acc = stages.setdefault(stage, [0, 0])
                acc[0] += p.done
                acc[1] += p.total
    for s, n in jobs.items():
        JOBS.labels(state=s).set(n)
    EXPERIMENT_STALLED.set(stalled)
    workers = census(r, queues, prefix=ctx.settings.state_prefix)
    for q, n in workers.per_queue.items():
        WORKERS.labels(queue=q).set(n)
    WORKERS_LOST.set(len(workers.lost))
    EXPERIMENT_PROGRESS.clear()
    for stage, (done, total) in stages.items():
        EXPERIMENT_PROGRESS.labels(stage=stage).set(done / total if total else 0.0)


def exposition(ctx: Any) -> tuple[bytes, str]:
    """The exposition text, after a refresh. While Redis cannot be read, ``taskonomy_redis_up`` is 0
    and the gauges read from it have no samples (unknown is not zero); the scrape never fails.
    ``taskonomy_dependency_up`` is set by checking each dependency (at once, a few seconds at most)."""
    check_dependencies(ctx)
    try:
        refresh(ctx)
        REDIS_UP.set(1)
    except Exception as exc:  # never fail a scrape because Redis is away
        log.warning("metrics: cannot refresh from Redis: %s", type(exc).__name__)
        REDIS_UP.set(0)
        for gauge in (QUEUE_DEPTH, EXPERIMENTS, JOBS, EXPERIMENT_PROGRESS, WORKERS):
            gauge.clear()
        WORKERS_LOST.set(float("nan"))
        EXPERIMENT_STALLED.set(float("nan"))
    return generate_latest(REGISTRY) + generate_latest(ctx.job_metrics), CONTENT_TYPE_LATEST
