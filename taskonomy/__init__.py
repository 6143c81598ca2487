"""Taskonomy as a service: the core library.

Stages: tasks → world / data → nets / training → affinity (AHP) → selection (the taxonomy
BIP). ``contract`` says what an experiment computes, as data (the spec, its configuration blocks
and their bounds, the world's spec, presets, artifact keys, typed jobs, the job graph: no torch or
numba, so every service imports it); ``execution`` runs its jobs (one handler per kind, the local
executor), producing artifacts that ``modelbank`` (model cards, predictions) and ``report`` read;
:mod:`taskonomy.run_outputs` and ``cli`` compose them. Dependencies point one way (a test walks
the imports). Beside the packages: ``errors`` (the one exception hierarchy),
``store`` (the artifact store), ``files`` (atomic writes of local files) and ``validity`` (a run
against the published tables and across seeds).
The core never imports celery, grpc, fastapi or redis.
"""

__version__ = "0.1.0"
