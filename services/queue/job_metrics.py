"""Job metrics that travel through Redis: workers record, the gateway's ``/metrics`` exports.

Celery workers run in other processes (and machines) than the gateway that serves ``/metrics``,
so an in-process prometheus_client histogram would never be scraped. Workers instead add to
Redis hashes with ``HINCRBY`` / ``HINCRBYFLOAT`` (atomic across any number of writers), and
:class:`RedisJobMetricsCollector` turns those hashes into metric families at scrape time.

Keys (``P`` = prefix, default ``taskonomy``):

- ``P:metrics:job_duration:<kind>`` hash: ``b<i>`` = jobs whose duration fell in bucket ``i``
  (non-cumulative, bucket ``i`` = ``(le[i-1], le[i]]``, the last one ``+Inf``), ``sum``, ``count``;
- ``P:metrics:jobs_finished`` hash: ``<kind>|<outcome>`` = count.

Exported (names as in services.metric_catalog.METRIC_NAMES): ``taskonomy_job_duration_seconds``
(histogram, label ``kind``, buckets :data:`~services.metric_catalog.JOB_DURATION_BUCKETS`) and
``taskonomy_jobs_finished`` (counter, labels ``kind``, ``outcome``).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from services.metric_catalog import JOB_DURATION_BUCKETS, JOB_KINDS
from services.queue.redis_keys import DEFAULT_PREFIX, KeySchema
from services.queue.redisconn import redis_client

log = logging.getLogger(__name__)

#: Outcomes of a finished job: ran and wrote its artifacts, found them present, failed, or was
#: dropped because its experiment was cancelled.
OUTCOMES = ("executed", "skipped", "failed", "cancelled")


def _kind(kind: str) -> str:
    return kind if kind in JOB_KINDS else "other"


def record_job(redis_client: Any, *, kind: str, outcome: str, seconds: float, prefix: str = DEFAULT_PREFIX) -> None:
    """Add one finished job to the Redis-held histogram and counter (one round trip)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
    kind = _kind(kind)
    seconds = max(0.0, float(seconds))
    bucket = bisect.bisect_left(JOB_DURATION_BUCKETS, seconds)  # index of the first le >= seconds
    pipe = redis_client.pipeline(transaction=True)
    keys = KeySchema(prefix)
    key = keys.job_duration(kind)
    pipe.hincrby(key, f"b{bucket}", 1)
    pipe.hincrbyfloat(key, "sum", seconds)
    pipe.hincrby(key, "count", 1)
    pipe.hincrby(keys.jobs_finished(), f"{kind}|{outcome}", 1)
    pipe.execute()


class RedisJobMetricsCollector(Collector):
    """A prometheus_client collector reading the job metrics from Redis at every scrape.

    Register it on the gateway's registry: ``REGISTRY.register(RedisJobMetricsCollector(url))``.
    When Redis cannot be reached the families are exported empty (the scrape never fails).
    """

    def __init__(self, redis_url: str, *, prefix: str = DEFAULT_PREFIX, client: Any = None) -> None:
        self.redis_url = redis_url
        self.prefix = prefix
        self._client = client

    def _redis(self) -> Any:
        if self._client is None:
            self._client = redis_client(self.redis_url, socket_timeout=2, connect_timeout=2, health_check_interval=0,
                                        retry_through_restart=False)
        return self._client

    def describe(self) -> Iterator[Any]:
        yield HistogramMetricFamily("taskonomy_job_duration_seconds", "Wall time of pipeline jobs by kind.",
                                    labels=["kind"])
        yield CounterMetricFamily("taskonomy_jobs_finished", "Jobs finished, by kind and outcome.",
                                  labels=["kind", "outcome"])

    def collect(self) -> Iterator[Any]:
        hist = HistogramMetricFamily("taskonomy_job_duration_seconds", "Wall time of pipeline jobs by kind.",
                                     labels=["kind"])
        finished = CounterMetricFamily("taskonomy_jobs_finished", "Jobs finished, by kind and outcome.",
                                       labels=["kind", "outcome"])
        try:
            r = self._redis()
            keys = KeySchema(self.prefix)
            pipe = r.pipeline(transaction=False)
            kinds = (*JOB_KINDS, "other")
            for kind in kinds:
                pipe.hgetall(keys.job_duration(kind))
            pipe.hgetall(keys.jobs_finished())
            *durations, counts = pipe.execute()
        except Exception as exc:  # a scrape must not fail because Redis is away
            log.warning("job metrics unavailable from %s: %s", self.redis_url, exc)
            yield hist
            yield finished
            return
        les = [*(str(float(b)) for b in JOB_DURATION_BUCKETS), "+Inf"]
        for kind, h in zip(kinds, durations, strict=True):
            if not h:
                continue
            cumulative = 0.0
            buckets = []
            for i, le in enumerate(les):
                cumulative += float(h.get(f"b{i}", 0))
                buckets.append((le, cumulative))
            hist.add_metric([kind], buckets, float(h.get("sum", 0.0)))
        for field, n in sorted(counts.items()):
            kind, _, outcome = field.partition("|")
            finished.add_metric([kind, outcome], float(n))
        yield hist
        yield finished
