"""The Celery task names and queues: the contract between every sender (gateway, ``taskonomy
submit``, the workers themselves) and the workers, defined once.

Senders never import worker code: they send these names with JSON arguments
(:mod:`services.queue.submission`).
"""

from __future__ import annotations

from taskonomy.contract import QUEUES as QUEUES  # every queue a job may be routed to: a job's ``queue``

#: One job of an experiment's graph: ``(experiment id, run, job dict, store URL)``.
RUN_JOB = "taskonomy.run_job"
#: Start (a new run of) an experiment: ``(experiment id, store_url=...)``.
RUN_EXPERIMENT = "taskonomy.control.run_experiment"
#: Ask an experiment to stop: ``(experiment id)``.
CANCEL_EXPERIMENT = "taskonomy.control.cancel_experiment"
#: Every task's prediction for one stored image: ``(prediction id, store URL)``.
PREDICT = "taskonomy.predict"

#: The light queue of experiment starts, cancels and planning.
CONTROL_QUEUE = "control"
#: The queue of predictions (the transfer workers consume it).
PREDICT_QUEUE = "transfer"
