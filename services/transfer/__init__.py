"""The transfer worker: a Celery app consuming the ``transfer`` and ``control`` queues (see services.queue)."""
