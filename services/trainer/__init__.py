"""The trainer worker: a Celery app consuming the ``train`` and ``control`` queues (see services.queue)."""
