"""The Celery application factory shared by the trainer and transfer workers.

Every worker app carries the same configuration and the same tasks (sent by name, see
:mod:`services.queue.tasks`); the two worker kinds differ only in the queues they consume
(``train`` + ``control`` and ``transfer`` + ``control`` by default). Senders use the sending-only
app of :mod:`services.queue.submission`.

Delivery settings (DESIGN.md §7):

- JSON only (``task_serializer``, ``result_serializer``, ``accept_content``): nothing is unpickled;
- ``task_acks_late`` + ``worker_prefetch_multiplier=1`` + ``task_reject_on_worker_lost``: a job
  is acknowledged only after it finished, one at a time per process, and a job whose process died
  is delivered again;
- Redis ``visibility_timeout`` longer than the hard time limit (validated in settings), so a job
  that is still running is not handed to a second worker;
- soft and hard time limits; transient storage errors are retried with exponential backoff
  (see :mod:`services.queue.tasks`);
- no result backend: progress and results live in the experiment state store, not in Celery.

The configuration is read from the environment lazily, the first time Celery needs it (at
worker start), never at import.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from services.queue.redisconn import safe_url
from services.queue.settings import WorkerSettings, load_worker_settings
from services.queue.tasks import register_tasks

log = logging.getLogger(__name__)


def celery_config(settings: WorkerSettings) -> dict[str, Any]:
    """The Celery configuration for ``settings`` (a plain dict, easy to inspect in tests)."""
    transport: dict[str, Any] = {"visibility_timeout": settings.visibility_timeout}
    if settings.unacked_restore_interval is not None:
        transport["unacked_restore_interval"] = settings.unacked_restore_interval
        transport["unacked_restore_throttle"] = 1
    return {
        "broker_url": settings.broker_url,
        "broker_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,  # a restarting Redis is waited for, forever
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "event_serializer": "json",
        "result_accept_content": ["json"],
        "task_ignore_result": True,
        "result_backend": None,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "worker_max_tasks_per_child": None,
        "task_soft_time_limit": settings.soft_time_limit,
        "task_time_limit": settings.time_limit,
        "task_default_queue": "control",
        "task_routes": {"taskonomy.control.*": {"queue": "control"}},
        "task_publish_retry": True,
        "task_publish_retry_policy": {"max_retries": 30, "interval_start": 0.2, "interval_step": 0.5,
                                      "interval_max": 2.0},
        "worker_hijack_root_logger": True,
        # deliberate: a Redis blip must not kill a GPU job of hours; the job keeps its lease, and its
        # message, which can no longer be acknowledged, is restored by the lost-job sweep and then skipped
        # (its outputs exist). Celery warns about this on every reconnect: run_worker silences that one.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "broker_channel_error_retry": True,
        # SIGTERM is a cold shutdown (run_worker): running jobs get this long, then go back to the queue
        "worker_soft_shutdown_timeout": settings.shutdown_grace,
    }


class _LazyConfig(Mapping[str, Any]):
    """The configuration, read from the environment on first use (Celery's conf is lazy too)."""

    def __init__(self) -> None:
        self._data: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._data is None:
            self._data = celery_config(load_worker_settings())
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def _init_worker_process(**_: Any) -> None:
    """In every pool process: one GPU per process, and torch threads capped (threads x concurrency <= cores)."""
    settings = load_worker_settings()
    os.environ["OMP_NUM_THREADS"] = str(settings.torch_threads)
    os.environ.setdefault("TASKONOMY_RENDER_WORKERS", "1")  # no process pools inside a pool process
    if settings.gpus:
        try:
            from billiard.process import current_process

            index = int(getattr(current_process(), "index", 0) or 0)
        except Exception:
            index = 0
        os.environ["CUDA_VISIBLE_DEVICES"] = str(settings.gpus[index % len(settings.gpus)])
    if "torch" in sys.modules:  # imported by a task module before the fork
        import torch

        torch.set_num_threads(settings.torch_threads)


def create_app(main: str, *, settings: WorkerSettings | None = None) -> Celery:
    """A Celery app with the shared configuration and every task registered.

    Args:
        main: the app's name (``taskonomy-trainer``, ``taskonomy-transfer``...).
        settings: explicit settings; by default they are read from the environment lazily.
    """
    app = Celery(main, set_as_current=False)
    app.config_from_object(celery_config(settings) if settings is not None else _LazyConfig())
    register_tasks(app)
    worker_process_init.connect(_init_worker_process, weak=False, dispatch_uid="taskonomy-worker-process-init")
    return app


def run_worker(kind: str, *, concurrency: int | None = None, loglevel: str | None = None,
               pool: str = "prefork", hostname: str | None = None, broker_url: str | None = None,
               announce: Callable[[str], None] | None = None) -> None:
    """Start a worker of ``kind`` (trainer or transfer) in this process (blocks until it stops).

    Settings are validated first, so a bad environment stops here with one clear error; then
    ``announce`` (default: the log) is told where the worker connects (broker and store, without
    passwords). The default concurrency is one process per configured GPU (``TASKONOMY_GPUS``),
    else one. ``broker_url`` overrides ``TASKONOMY_BROKER_URL`` (for this process and its pool).

    SIGTERM is Celery's cold shutdown (``REMAP_SIGTERM=SIGQUIT``, read by billiard at import, so
    set here before the worker machinery loads): a running job gets ``TASKONOMY_SHUTDOWN_GRACE``
    seconds (``worker_soft_shutdown_timeout``), then its pool process is terminated and its
    unacknowledged message goes back to the queue (see :mod:`services.queue.tasks`). Finishing a
    GPU job of hours instead would need a grace period of hours, which blocks node drains.
    """
    import importlib

    settings = load_worker_settings(broker_url=broker_url) if broker_url is not None else load_worker_settings()
    queues = settings.queues_for(kind)
    # valid: now for this process and its pool processes (which read their settings from the environment)
    os.environ["TASKONOMY_BROKER_URL"] = settings.broker_url
    os.environ.setdefault("REMAP_SIGTERM", "SIGQUIT")
    module = importlib.import_module(f"services.{kind}.app")
    app: Celery = module.app
    n = concurrency if concurrency is not None else max(1, len(settings.gpus))
    os.environ.setdefault("OMP_NUM_THREADS", str(settings.torch_threads))
    from billiard.common import REMAP_SIGTERM

    if REMAP_SIGTERM != "SIGQUIT":
        log.warning("REMAP_SIGTERM is %r: SIGTERM waits for running jobs to finish instead of handing them back",
                    REMAP_SIGTERM)
    argv = ["worker", "-Q", ",".join(queues), "-c", str(n), "-P", pool, "-l", loglevel or settings.loglevel,
            "-n", hostname or f"{kind}-{os.getpid()}@%h", "--without-gossip", "--without-mingle"]
    store = settings.store_url or "none (each experiment names its own)"
    message = (f"{kind} worker: broker {safe_url(settings.broker_url)}, default store {safe_url(store)}, "
               f"queues {','.join(queues)}, concurrency {n}")
    (announce or log.info)(message)
    _quiet_deliberate_warnings(settings)
    app.worker_main(argv)


#: The start of Celery's warning on every reconnect about worker_cancel_long_running_tasks_on_connection_loss.
_CANCEL_ON_CONNECTION_LOSS_WARNING = r"\s*In Celery 5\.1 we introduced an optional breaking change"


def _quiet_deliberate_warnings(settings: WorkerSettings) -> None:
    """Silence what Celery warns about on every start or reconnect where the choice is deliberate:
    keeping running jobs on a connection loss (see :func:`celery_config`), and running as root
    when ``TASKONOMY_ALLOW_ROOT`` says so (JSON only, never pickle, so root cannot be exploited
    through a message; the images run as an unprivileged user and need no such setting)."""
    import warnings

    from celery.exceptions import CPendingDeprecationWarning, SecurityWarning
    from celery.signals import celeryd_after_setup

    if settings.allow_root:  # checked before the worker sets up its logging
        warnings.filterwarnings("ignore", category=SecurityWarning)

    def after_logging(**_: Any) -> None:  # Celery's logging set-up makes its deprecations 'always' first
        warnings.filterwarnings("ignore", message=_CANCEL_ON_CONNECTION_LOSS_WARNING,
                                category=CPendingDeprecationWarning)

    celeryd_after_setup.connect(after_logging, weak=False, dispatch_uid="taskonomy-quiet-warnings")
