"""Taskonomy as a service: the core library.

Stages (see ../shared/DESIGN.md): tasks → world / data → nets / training → affinity (AHP) →
selection (the taxonomy BIP) → report; ``pipeline`` ties them into a job graph.
The core never imports celery, grpc, fastapi or redis.
"""

__version__ = "0.1.0"
