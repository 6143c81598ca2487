"""Submitting, re-running, cancelling and reading experiments: the one place that does it, for
``taskonomy submit / rerun / cancel / status``, the gateway and the tests.

The experiment's record is created (or reset) in the state store in Redis, and its start is sent
*by name* (:data:`~services.queue.tasknames.RUN_EXPERIMENT`) on the control queue through a
sending-only Celery app (:func:`client_app`): no worker code is imported.

Rules:

- submitting a spec whose experiment exists sends nothing, unless it FAILED or was CANCELLED: then
  it is reset and run again (a SUCCEEDED experiment is re-run only by :meth:`Submissions.rerun`);
- :meth:`Submissions.rerun` starts a new run of any finished experiment, and of an active one
  (PENDING, RUNNING, CANCELLING: e.g. stuck after a fault) with ``force``: the old run's jobs are
  then superseded, and content-addressed artifacts make every finished job a no-op;
- :meth:`Submissions.cancel` asks the executor to stop; when no job of the experiment is running
  (no lease held) it is CANCELLED at once, otherwise CANCELLING until the running jobs end (or
  their leases lapse, seen by the workers' sweep), and nothing else is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis
from celery import Celery
from kombu.exceptions import OperationalError

from services.queue.leases import leased
from services.queue.redis_keys import DEFAULT_PREFIX
from services.queue.redisconn import redis_client
from services.queue.runbook import RunBook, current_run, run_store_url, set_run_store_url
from services.queue.settings import check_broker_url
from services.queue.state import ACTIVE, TERMINAL, ExperimentRecord, ExperimentStateStore
from services.queue.tasknames import CONTROL_QUEUE, RUN_EXPERIMENT
from taskonomy.errors import NotFoundError, PreconditionError

#: States a submission of the same spec runs again.
RERUNNABLE = frozenset({"FAILED", "CANCELLED"})


class BrokerUnavailableError(ConnectionError):
    """The broker (Redis) cannot be reached to send a message. HTTP: 503; CLI: one line, exit 2."""


def client_app(broker_url: str) -> Celery:
    """A sending-only Celery app (no tasks): ``send_task`` by name, JSON only, a short connection
    timeout and few retries, so a broker that is down is reported at once."""
    app = Celery("taskonomy-client", broker=check_broker_url(broker_url, name="broker URL"), set_as_current=False)
    app.conf.update(
        task_serializer="json", accept_content=["json"], task_ignore_result=True, broker_connection_timeout=3,
        broker_connection_retry_on_startup=False, broker_connection_max_retries=2, task_create_missing_queues=True,
        task_publish_retry=True,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.0, "interval_step": 0.5, "interval_max": 1.0},
    )
    return app


def state_store(broker_url: str, *, prefix: str = DEFAULT_PREFIX) -> ExperimentStateStore:
    """The state store on ``broker_url``, checked to answer (PreconditionError when it does not)."""
    client = redis_client(check_broker_url(broker_url), connect_timeout=3, socket_timeout=5, health_check_interval=0,
                          retry_through_restart=False)
    try:
        client.ping()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise PreconditionError(f"cannot reach the broker at {broker_url}: {exc}") from None
    return ExperimentStateStore(client, prefix=prefix)


def experiment_id(spec: Any) -> str:
    """The id of an experiment: its spec's content key (same spec, same id, whoever submits it)."""
    return str(spec.content_key())


class Submissions:
    """Experiments' records in ``state`` and their starts sent through ``celery``."""

    def __init__(self, state: ExperimentStateStore, celery: Celery, *, control_queue: str = CONTROL_QUEUE,
                 default_store_url: str | None = None) -> None:
        self.state = state
        self.celery = celery
        self.control_queue = control_queue
        #: the store of a re-run whose experiment never recorded one (None: the workers' TASKONOMY_STORE_URL)
        self.default_store_url = default_store_url

    def get(self, exp_id: str) -> ExperimentRecord:
        record = self.state.get(exp_id)
        if record is None:
            raise NotFoundError(f"no experiment {exp_id!r}")
        return record

    def _send_start(self, exp_id: str, store_url: str | None) -> None:
        if store_url:  # where it runs, also for a start sent again by the workers' sweep
            set_run_store_url(self.state.r, exp_id, store_url, prefix=self.state.prefix)
        try:
            self.celery.send_task(RUN_EXPERIMENT, args=[exp_id], kwargs={"store_url": store_url},
                                  queue=self.control_queue)
        except OperationalError as exc:
            self.state.set_state(exp_id, "FAILED", error="could not be enqueued (broker unavailable); "
                                                         "submit it again")
            raise BrokerUnavailableError(f"the broker cannot be reached: {exc}") from None

    def submit(self, exp_id: str, spec_data: Mapping[str, Any], *, store_url: str | None
               ) -> tuple[ExperimentRecord, bool]:
        """Create (or re-open a failed or cancelled) experiment and send its start.

        Returns ``(record, sent)``: nothing is sent when the experiment exists and is not
        FAILED or CANCELLED.
        """
        record, created = self.state.create(exp_id, dict(spec_data))
        if not created:
            if record.state not in RERUNNABLE:
                return record, False
            self.state.reset_for_rerun(exp_id, dict(spec_data))
        self._send_start(exp_id, store_url)
        return self.get(exp_id), True

    def rerun(self, exp_id: str, *, spec_data: Mapping[str, Any] | None = None, store_url: str | None = None,
              force: bool = False) -> ExperimentRecord:
        """Start a new run of ``exp_id`` (with ``spec_data`` when given: e.g. a task added).

        An active experiment is re-run only with ``force`` (PreconditionError otherwise). The
        store is ``store_url``, else the one it was submitted with or last ran on, else
        :attr:`default_store_url`.
        """
        record = self.get(exp_id)
        if record.state in ACTIVE and not force:
            raise PreconditionError(f"experiment {exp_id!r} is {record.state}; re-run it once it has finished, "
                                    "or force the re-run (a stuck experiment: its running jobs are superseded)")
        url = store_url or run_store_url(self.state.r, exp_id, prefix=self.state.prefix) or self.default_store_url
        self.state.reset_for_rerun(exp_id, dict(spec_data) if spec_data is not None else record.spec)
        self._send_start(exp_id, url)
        return self.get(exp_id)

    def cancel(self, exp_id: str) -> ExperimentRecord:
        """Ask the experiment to stop (see :func:`cancel_experiment`)."""
        cancel_experiment(self.state, exp_id)
        return self.get(exp_id)

    def status(self, exp_id: str) -> dict[str, Any]:
        """The record (state, per-stage progress, result, error, last progress, restored and retried
        jobs) plus the current run, its job counts and the experiment's events."""
        out = self.get(exp_id).to_dict()
        run = current_run(self.state.r, exp_id, prefix=self.state.prefix)
        out["run"] = run
        out["jobs"] = RunBook(self.state.r, exp_id, run, prefix=self.state.prefix).stats() if run else {}
        out["events"] = self.state.events(exp_id)
        return out


def in_flight(state: ExperimentStateStore, exp_id: str) -> list[str]:
    """Jobs of the experiment's current run that hold a lease (running somewhere now)."""
    run = current_run(state.r, exp_id, prefix=state.prefix)
    if run is None:
        return []
    return leased(state.r, RunBook(state.r, exp_id, run, prefix=state.prefix).job_ids(), prefix=state.prefix)


def cancel_experiment(state: ExperimentStateStore, exp_id: str) -> str:
    """Ask the experiment to stop; returns its new state.

    CANCELLED at once when no job of it runs (no lease held), else CANCELLING: the running jobs
    send nothing more, and the last one to end (or the workers' sweep, once their leases have
    lapsed) makes it CANCELLED.
    """
    record = state.get(exp_id)
    if record is None:
        raise NotFoundError(f"no experiment {exp_id!r}")
    if record.state in TERMINAL:
        return record.state
    state.request_cancel(exp_id)
    new = "CANCELLING" if in_flight(state, exp_id) else "CANCELLED"
    state.set_state(exp_id, new)
    return new


def submissions(broker_url: str, *, prefix: str = DEFAULT_PREFIX) -> Submissions:
    """Submissions on ``broker_url`` (checked to answer first)."""
    return Submissions(state_store(broker_url, prefix=prefix), client_app(broker_url))


def submit(exp_id: str, spec_data: Mapping[str, Any], *, broker_url: str, store_url: str,
           prefix: str = DEFAULT_PREFIX) -> tuple[str, bool]:
    """Create (or re-open) the record of ``exp_id`` and send its start by name; ``(id, sent)``."""
    subs = submissions(broker_url, prefix=prefix)
    try:
        _, sent = subs.submit(exp_id, spec_data, store_url=store_url)
    finally:
        subs.celery.close()
    return exp_id, sent


def experiment_status(exp_id: str, *, broker_url: str, prefix: str = DEFAULT_PREFIX) -> dict[str, Any]:
    """``taskonomy status``: the record plus the current run and its job counts."""
    return submissions(broker_url, prefix=prefix).status(exp_id)
