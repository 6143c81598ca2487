"""Celery app of the trainer worker: ``celery -A services.trainer.app worker -Q train,control``.

Or ``taskonomy worker trainer --concurrency N`` (one process per GPU). The tasks are the shared,
thin wrappers over the core jobs (services.queue.tasks); configuration comes from the
``TASKONOMY_*`` environment, read when the worker starts.
"""

from __future__ import annotations

from services.queue.celery_app import create_app

app = create_app("taskonomy-trainer")
