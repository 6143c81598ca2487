"""What every handler takes: the job, the store, and a progress callback."""

from __future__ import annotations

from collections.abc import Callable

from taskonomy.contract import Job
from taskonomy.store import ArtifactStore

#: ``progress(done, total)`` inside one job (e.g. training steps); may be None.
Progress = Callable[[int, int], None] | None
#: A job kind's handler: runs the job, writing its outputs to the store.
Handler = Callable[[Job, ArtifactStore, Progress], None]
