"""Experiments as job graphs: the spec, content-addressed keys, the jobs and the local executor.

>>> from taskonomy.pipeline import build_graph, preset
>>> graph = build_graph(preset("quick"))
>>> sorted(graph.stage_counts())[:2]
['baselines', 'features']

Modules: ``spec`` (the experiment spec and presets), ``keys`` (artifact keys), ``graph`` (the
job graph, pure), ``jobs`` (running one job), ``local`` (the local executor), ``run`` (a whole
run: validate, execute, copy out the table and taxonomy), ``finalize`` (AHP, table, taxonomy),
``proxy`` and ``fast`` (the proxy-only and fused/halving modes), ``datasets`` (folder datasets).
The pipeline only produces artifacts: it imports neither the model bank nor the report, which
read them. Importing this package does not import torch (the gateway validates specs with it).
"""

from __future__ import annotations

from taskonomy.pipeline.graph import STAGES, Job, JobGraph, build_graph
from taskonomy.pipeline.jobs import run_job
from taskonomy.pipeline.local import LocalExecutor, RunStats
from taskonomy.pipeline.spec import PRESETS, ExperimentSpec, TaskEntry, preset

__all__ = [
    "PRESETS", "STAGES", "ExperimentSpec", "Job", "JobGraph", "LocalExecutor", "RunStats", "TaskEntry",
    "build_graph", "preset", "run_job",
]
