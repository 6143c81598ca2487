"""The transfer worker: a Celery app consuming the ``transfer`` and ``control`` queues (see
services.queue), which runs the transfer jobs and the predictions of the demo
(:mod:`services.transfer.predict`, ``taskonomy.predict``, sent to the ``transfer`` queue).

The package is named after its worker kind (``taskonomy worker transfer`` imports
``services.transfer.app``), like :mod:`services.trainer`, the queue and the image's ``WORKER`` value.
"""
