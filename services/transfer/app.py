"""Celery app of the transfer worker: ``celery -A services.transfer.app worker -Q transfer,control``.

Or ``taskonomy worker transfer --concurrency N`` (one process per GPU). The tasks are the shared,
thin wrappers over the core jobs (services.queue.tasks); configuration comes from the
``TASKONOMY_*`` environment, read when the worker starts.
"""

from __future__ import annotations

from services.queue.celery_app import create_app
from services.transfer.predict import register_predict

app = create_app("taskonomy-transfer")
register_predict(app)  # taskonomy.predict: every task's prediction for one image (the demo)
