"""Running the contract's jobs: one handler per job kind, the local executor, a whole run.

>>> from taskonomy.contract import preset
>>> from taskonomy.execution import run_experiment
>>> # run_experiment(preset("quick"), out_dir="runs/quick")  # a few minutes on a laptop

Modules: :mod:`~taskonomy.execution.handlers` (one module per :class:`~taskonomy.contract.JobKind`
and :func:`run_job`, which every executor calls, the services' workers too),
:mod:`~taskonomy.execution.artifacts` (how jobs read and write arrays and networks),
:mod:`~taskonomy.execution.local` (the local executor: dependency order, worker processes),
:mod:`~taskonomy.execution.run` (a whole run: validate, execute, copy the table and taxonomy out),
:mod:`~taskonomy.execution.datasets` (folder datasets cut into splits). What an experiment
computes (the fused, halving and proxy modes included) is the spec's: :mod:`taskonomy.contract`.
Execution only produces artifacts: it imports neither the model bank nor the report, which read
them. Importing this package loads no torch (handlers import it when they run).
"""

from __future__ import annotations

from taskonomy.execution.handlers import HANDLERS, run_job
from taskonomy.execution.local import LocalExecutor, RunStats, default_workers
from taskonomy.execution.run import RunResult, default_store_url, run_experiment, validate_experiment

__all__ = ["HANDLERS", "LocalExecutor", "RunResult", "RunStats", "default_store_url", "default_workers",
           "run_experiment", "run_job", "validate_experiment"]
