"""The gateway's connections to the outside (Redis state store, Celery broker, artifact store,
solver), created lazily on first use so that building the app connects to nothing.

Routes reach it through the ``Ctx`` dependency alias (:mod:`services.gateway.deps`).
Experiments are submitted, re-run and cancelled through :class:`services.queue.submission.Submissions`
(the same code as ``taskonomy submit``), which sends them by task name.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from celery import Celery
from prometheus_client import CollectorRegistry

from services.gateway.cluster_metrics import job_registry
from services.gateway.problems import ServiceUnavailable
from services.gateway.settings import GatewaySettings
from services.gateway.taxonomy_service import TaxonomyService
from services.queue.redisconn import redis_client
from services.queue.state import ExperimentStateStore
from services.queue.submission import Submissions, client_app
from services.solver.client import SolverClient
from taskonomy.errors import TaskonomyError
from taskonomy.store import ArtifactStore


class GatewayContext:
    """Shared, thread-safe handles used by the routes (one per app)."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._redis: Any = None
        self._state: ExperimentStateStore | None = None
        self._celery: Celery | None = None
        self._solver: SolverClient | None = None
        self._taxonomy: TaxonomyService | None = None
        self._job_metrics: CollectorRegistry | None = None
        self._stores: dict[str, ArtifactStore] = {}
        self._store_ok_at: float | None = None

    # -- Redis / state ---------------------------------------------------------------------
    @property
    def redis(self) -> Any:
        with self._lock:
            if self._redis is None:
                self._redis = redis_client(self.settings.broker_url, connect_timeout=2, socket_timeout=5,
                                           health_check_interval=30, retry_through_restart=False)
            return self._redis

    @property
    def state(self) -> ExperimentStateStore:
        client = self.redis
        with self._lock:
            if self._state is None:
                self._state = ExperimentStateStore(client, prefix=self.settings.state_prefix)
            return self._state

    # -- Celery ----------------------------------------------------------------------------
    @property
    def celery(self) -> Celery:
        """The sending-only Celery app (tasks by name; see :func:`services.queue.submission.client_app`)."""
        with self._lock:
            if self._celery is None:
                self._celery = client_app(self.settings.broker_url)
            return self._celery

    @property
    def submissions(self) -> Submissions:
        return Submissions(self.state, self.celery, control_queue=self.settings.control_queue,
                           default_store_url=self.settings.store_url)

    # -- artifacts / solver ------------------------------------------------------------------
    @property
    def artifacts(self) -> ArtifactStore:
        """The gateway's artifact store (``store_url``; experiments submitted here write to it)."""
        return self.artifacts_at(self.settings.store_url)

    def artifacts_at(self, url: str) -> ArtifactStore:
        """The artifact store at ``url`` (an experiment's record names the store its run used)."""
        with self._lock:
            store = self._stores.get(url)
            if store is None:
                store = self._stores[url] = ArtifactStore(url)
            return store

    def check_store(self, *, timeout_s: float = 10.0) -> None:
        """Prove the gateway's store can be written before accepting work (a probe object; a success
        is trusted for ``store_check_s``): 503 naming the store and the problem otherwise."""
        now = time.monotonic()
        if self._store_ok_at is not None and now - self._store_ok_at < self.settings.store_check_s:
            return
        try:
            self.artifacts.check_writable(timeout_s=timeout_s)
        except TaskonomyError as exc:
            self._store_ok_at = None
            raise ServiceUnavailable(f"experiments cannot be accepted: {exc}",
                                     retry_after_s=self.settings.retry_after_s) from None
        self._store_ok_at = now

    @property
    def job_metrics(self) -> CollectorRegistry:
        with self._lock:
            if self._job_metrics is None:
                self._job_metrics = job_registry(self.settings.broker_url, prefix=self.settings.state_prefix)
            return self._job_metrics

    @property
    def solver(self) -> SolverClient:
        with self._lock:
            if self._solver is None:
                self._solver = SolverClient(self.settings.solver_address, timeout_s=self.settings.solver_timeout_s,
                                            retries=2)
            return self._solver

    @property
    def taxonomy(self) -> TaxonomyService:
        with self._lock:
            if self._taxonomy is None:
                self._taxonomy = TaxonomyService(self)
            return self._taxonomy

    def close(self) -> None:
        with self._lock:
            if self._solver is not None:
                self._solver.close()
                self._solver = None
            if self._redis is not None:
                self._redis.close()
                self._redis = None
                self._state = None
            if self._celery is not None:
                self._celery.close()
                self._celery = None
