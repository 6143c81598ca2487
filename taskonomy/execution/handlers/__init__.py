"""One module per job kind, and :func:`run_job`, the one function every executor calls.

A handler reads its job's inputs and writes its outputs only through the
:class:`~taskonomy.store.ArtifactStore`, so the local executor and a Celery worker on another
machine run exactly the same code. ``run_job`` is idempotent: when every output already exists
it does nothing (Celery's at-least-once delivery is then harmless, and an interrupted run
resumes where it stopped). Handlers import :mod:`taskonomy.training` (torch) when they run.
"""

from __future__ import annotations

from taskonomy.contract import Job, JobKind
from taskonomy.errors import InvalidInputError, PreconditionError
from taskonomy.execution.handlers import (
    baseline,
    evaluate,
    features,
    finalize,
    plan,
    proxy_finalize,
    random_encoder,
    render,
    train,
    transfer,
    transfer_group,
    transfer_halving,
)
from taskonomy.execution.handlers._types import Handler, Progress
from taskonomy.store import ArtifactStore

#: The handler of every job kind.
HANDLERS: dict[JobKind, Handler] = {
    JobKind.RENDER: render.run,
    JobKind.TRAIN: train.run,
    JobKind.RANDOM_ENCODER: random_encoder.run,
    JobKind.FEATURES: features.run,
    JobKind.TRANSFER: transfer.run,
    JobKind.TRANSFER_GROUP: transfer_group.run,
    JobKind.TRANSFER_HALVING: transfer_halving.run,
    JobKind.BASELINE: baseline.run,
    JobKind.EVALUATE: evaluate.run,
    JobKind.PLAN_HIGHER_ORDER: plan.run,
    JobKind.FINALIZE: finalize.run,
    JobKind.PROXY_FINALIZE: proxy_finalize.run,
}
assert set(HANDLERS) == set(JobKind), "every job kind needs a handler"

__all__ = ["HANDLERS", "Handler", "Progress", "outputs_exist", "run_job"]


def outputs_exist(job: Job, store: ArtifactStore) -> bool:
    return all(store.exists(k) for k in job.outputs)


def run_job(job: Job, store: ArtifactStore, *, progress: Progress = None, verify: bool = False) -> bool:
    """Run ``job`` unless all its outputs exist; return True when work was done.

    With ``verify``, existing outputs are checked against their checksums first and a corrupt
    one is deleted, so the job recomputes it instead of handing bad bytes downstream.
    Raises PreconditionError when an input artifact is missing (its producer has not run) and
    InvalidInputError for an unknown job kind.
    """
    if verify:
        for key in job.outputs:
            if store.exists(key) and not store.verify(key):
                store.delete(key)
    if outputs_exist(job, store):
        return False
    handler = HANDLERS.get(job.kind)
    if handler is None:
        raise InvalidInputError(f"unknown job kind {job.kind!r}; known: {', '.join(sorted(HANDLERS))}")
    missing = [k for k in job.inputs if not store.exists(k)]
    if missing:
        raise PreconditionError(f"job {job.id} ({job.kind}) is missing {len(missing)} input artifact(s), "
                                f"e.g. {missing[0]!r}: run the jobs that produce them first")
    handler(job, store, progress)
    return True
