"""The ``taskonomy.predict`` Celery task of the transfer workers: a thin wrapper over
:func:`taskonomy.modelbank.predict.run_prediction_request`.

The gateway writes the request (and the uploaded image) into the artifact store and sends
``taskonomy.predict(prediction_id, store_url)`` by name to the ``transfer`` queue; the worker
writes one PNG per task and ``result.json`` next to the request, which the gateway polls.
Arguments are JSON only, and a request already answered is not run again (acks_late is safe).
"""

from __future__ import annotations

from typing import Any

from services.queue.tasknames import PREDICT


def run_predict(prediction_id: str, store_url: str) -> str:
    """Run one stored prediction request; returns its final state (SUCCEEDED or FAILED)."""
    from taskonomy.modelbank.predict import run_prediction_request
    from taskonomy.store import ArtifactStore

    return str(run_prediction_request(ArtifactStore(store_url), prediction_id)["state"])


def register_predict(app: Any) -> None:
    """Register :data:`PREDICT` on a worker's Celery app."""

    @app.task(name=PREDICT, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def predict_task(prediction_id: str, store_url: str) -> str:
        return run_predict(prediction_id, store_url)
