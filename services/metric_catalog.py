"""Every Prometheus metric the services export, defined once.

The gateway serves them on ``/metrics``; the Grafana dashboard (deploy/) may query only names
listed in :data:`METRIC_NAMES` (a test checks this). Label values are bounded: queue names,
states, job kinds and route templates, never ids or tokens.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from taskonomy.contract import JobKind

#: Job kinds of the experiment's job graph (taskonomy.contract.JobKind) and the predictions; any other kind
#: (a plugin's, services.queue.jobkinds) is labelled ``other``.
JOB_KINDS = (*(kind.value for kind in JobKind), "predict")

REGISTRY = CollectorRegistry(auto_describe=True)

QUEUE_DEPTH = Gauge(
    "taskonomy_queue_depth", "Messages waiting in each Celery queue (read from Redis).", ["queue"], registry=REGISTRY
)
REDIS_UP = Gauge(
    "taskonomy_redis_up",
    "1 when the gateway read the queues and experiment states from Redis at this scrape, 0 when it could not "
    "(the queue and experiment gauges then have no samples: unknown, not zero).",
    registry=REGISTRY,
)
DEPENDENCY_UP = Gauge(
    "taskonomy_dependency_up",
    "1 when the gateway reached the dependency (redis, solver, store) at this scrape, 0 when it could not.",
    ["dependency"], registry=REGISTRY,
)
WORKERS = Gauge("taskonomy_workers", "Live Celery workers (beating in Redis), per queue they consume.", ["queue"],
                registry=REGISTRY)
WORKERS_LOST = Gauge(
    "taskonomy_workers_lost",
    "Workers that stopped beating without a clean stop (killed, OOM, node lost) within the last hour "
    "(services.queue.heartbeats); NaN while Redis cannot be read.",
    registry=REGISTRY,
)
EXPERIMENTS = Gauge("taskonomy_experiments", "Experiments by state.", ["state"], registry=REGISTRY)
EXPERIMENT_PROGRESS = Gauge(
    "taskonomy_experiment_progress_ratio",
    "Fraction of finished jobs per stage over all running experiments.",
    ["stage"],
    registry=REGISTRY,
)
EXPERIMENT_STALLED = Gauge(
    "taskonomy_experiment_stalled_seconds",
    "Seconds since the RUNNING experiment that has gone longest without progress last finished a job (since it "
    "started when none has yet); 0 when no experiment runs.",
    registry=REGISTRY,
)
JOBS = Gauge("taskonomy_jobs", "Jobs of running experiments by state.", ["state"], registry=REGISTRY)
#: Buckets of ``taskonomy_job_duration_seconds``. Jobs run in worker processes, so their duration
#: histogram and finished counter travel through Redis: services.queue.job_metrics records them
#: and its RedisJobMetricsCollector exports ``taskonomy_job_duration_seconds`` and
#: ``taskonomy_jobs_finished`` (labels kind / kind, outcome) at scrape time.
JOB_DURATION_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
HTTP_LATENCY = Histogram(
    "taskonomy_http_request_duration_seconds",
    "Gateway request latency by method, route template and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
TAXONOMY_QUERIES = Counter(
    "taskonomy_taxonomy_queries", "Taxonomy queries answered by the gateway, by cache outcome.", ["cache"],
    registry=REGISTRY,
)
SOLVER_LATENCY = Histogram(
    "taskonomy_solver_request_duration_seconds", "Solver gRPC latency by method.", ["method"], registry=REGISTRY
)

#: Exported metric family names as they appear in the exposition format (counters get _total,
#: histograms _bucket/_sum/_count).
METRIC_NAMES: frozenset[str] = frozenset(
    {
        "taskonomy_queue_depth",
        "taskonomy_redis_up",
        "taskonomy_dependency_up",
        "taskonomy_workers",
        "taskonomy_workers_lost",
        "taskonomy_experiments",
        "taskonomy_experiment_progress_ratio",
        "taskonomy_experiment_stalled_seconds",
        "taskonomy_jobs",
        "taskonomy_jobs_finished_total",
        "taskonomy_job_duration_seconds_bucket",
        "taskonomy_job_duration_seconds_sum",
        "taskonomy_job_duration_seconds_count",
        "taskonomy_http_request_duration_seconds_bucket",
        "taskonomy_http_request_duration_seconds_sum",
        "taskonomy_http_request_duration_seconds_count",
        "taskonomy_taxonomy_queries_total",
        "taskonomy_solver_request_duration_seconds_bucket",
        "taskonomy_solver_request_duration_seconds_sum",
        "taskonomy_solver_request_duration_seconds_count",
    }
)

#: Families whose values the gateway reads from Redis (shared by the whole cluster), so every gateway
#: replica exports the same figure: dashboards and alerts aggregate them over gateways with ``max``
#: (never ``sum``, which would count them once per replica). Every other family is per process
#: (requests, taxonomy queries, solver calls, dependency checks) and is summed.
CLUSTER_METRICS: frozenset[str] = frozenset(
    {
        "taskonomy_queue_depth",
        "taskonomy_workers",
        "taskonomy_workers_lost",
        "taskonomy_experiments",
        "taskonomy_experiment_progress_ratio",
        "taskonomy_experiment_stalled_seconds",
        "taskonomy_jobs",
        "taskonomy_jobs_finished_total",
        "taskonomy_job_duration_seconds_bucket",
        "taskonomy_job_duration_seconds_sum",
        "taskonomy_job_duration_seconds_count",
    }
)
