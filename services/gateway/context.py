"""The gateway's connections to the outside (Redis state store, Celery broker, artifact store,
solver), created lazily on first use so that building the app connects to nothing.

Routes reach it through the ``Ctx`` dependency alias (:mod:`services.gateway.deps`).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from services.common.state import ExperimentStateStore
from services.gateway.problems import ServiceUnavailable
from services.gateway.settings import GatewaySettings

if TYPE_CHECKING:
    from celery import Celery
    from prometheus_client import CollectorRegistry

    from services.gateway.taxonomy_service import TaxonomyService
    from services.solver.client import SolverClient
    from taskonomy.store import ArtifactStore

#: Celery task that runs a whole experiment (the Celery executor registers it).
RUN_EXPERIMENT = "taskonomy.control.run_experiment"


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
        from services.gateway.metrics import WorkerCounter

        self.workers = WorkerCounter(self, period_s=settings.workers_refresh_s)

    # -- Redis / state ---------------------------------------------------------------------
    @property
    def redis(self) -> Any:
        with self._lock:
            if self._redis is None:
                import redis

                self._redis = redis.Redis.from_url(
                    self.settings.broker_url, decode_responses=True, socket_connect_timeout=2, socket_timeout=5,
                    health_check_interval=30)
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
        with self._lock:
            if self._celery is None:
                from celery import Celery

                app = Celery("taskonomy-gateway", broker=self.settings.broker_url, set_as_current=False)
                app.conf.update(
                    task_serializer="json", accept_content=["json"], broker_connection_timeout=3,
                    broker_connection_retry_on_startup=False, broker_connection_max_retries=2,
                    task_create_missing_queues=True,
                )
                self._celery = app
            return self._celery

    def run_experiment(self, experiment_id: str) -> None:
        """Enqueue the experiment on the control queue, by task name (no worker code imported)."""
        from kombu.exceptions import OperationalError

        try:
            self.celery.send_task(
                RUN_EXPERIMENT, args=[experiment_id], kwargs={"store_url": self.settings.store_url},
                queue=self.settings.control_queue, retry=True,
                retry_policy={"max_retries": 2, "interval_start": 0.0, "interval_step": 0.5, "interval_max": 1.0},
            )
        except OperationalError as exc:
            raise ServiceUnavailable(f"the broker cannot be reached: {exc}",
                                     retry_after_s=self.settings.retry_after_s) from None

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
                from taskonomy.store import ArtifactStore

                store = self._stores[url] = ArtifactStore(url)
            return store

    @property
    def job_metrics(self) -> CollectorRegistry:
        with self._lock:
            if self._job_metrics is None:
                from services.gateway.metrics import job_registry

                self._job_metrics = job_registry(self)
            return self._job_metrics

    @property
    def solver(self) -> SolverClient:
        with self._lock:
            if self._solver is None:
                from services.solver.client import SolverClient

                self._solver = SolverClient(self.settings.solver_address, timeout_s=self.settings.solver_timeout_s,
                                            retries=2)
            return self._solver

    @property
    def taxonomy(self) -> TaxonomyService:
        with self._lock:
            if self._taxonomy is None:
                from services.gateway.taxonomy_service import TaxonomyService

                self._taxonomy = TaxonomyService(self)
            return self._taxonomy

    def close(self) -> None:
        self.workers.stop()
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
