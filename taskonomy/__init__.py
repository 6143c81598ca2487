"""Taskonomy as a service: the core library.

Stages: tasks → world / data → nets / training → affinity (AHP) → selection (the taxonomy
BIP); ``pipeline`` ties them into a job graph whose artifacts ``modelbank`` (model cards,
predictions) and ``report`` read, and :mod:`taskonomy.run_outputs` and ``cli`` compose the three.
Dependencies point one way (a test walks the imports). Beside the packages: ``config`` (the
experiment's configuration blocks and their bounds), ``errors`` (the one exception hierarchy),
``store`` (the artifact store), ``files`` (atomic writes of local files) and ``validity`` (a run
against the published tables and across seeds).
The core never imports celery, grpc, fastapi or redis.
"""

__version__ = "0.1.0"
