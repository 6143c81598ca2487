"""Every Redis key the services read or write, built in one place.

Our keys all start with a prefix (``TASKONOMY_STATE_PREFIX``, default :data:`DEFAULT_PREFIX`);
:class:`KeySchema` builds them for one prefix. Existing Redis data, the Helm chart's KEDA triggers
(``taskonomy:running:<queue>``, kept equal to :meth:`KeySchema.running` by a chart test) and the
tests name these strings, so they never change. With ``P`` the prefix:

- experiment records (:mod:`services.queue.state`): ``P:exp:<id>`` (hash), ``P:exp:<id>:events``
  (list), ``P:exp:<id>:total`` / ``:done`` / ``:failed`` (hashes stage -> count), ``P:exps``
  (sorted set of ids);
- an experiment's runs (:mod:`services.queue.runbook`): ``P:exp:<id>:run`` (current run),
  ``P:exp:<id>:run_token`` (the start message that made it), ``P:exp:<id>:store`` (store URL), and
  per run ``P:run:<id>:<run>:<part>`` (``jobs``, ``deps:<job>``, ``children:<job>``, ``done``...);
- ``P:lease:<job id>`` (:mod:`services.queue.leases`);
- ``P:running:<queue>`` (:mod:`services.queue.queues`: what the autoscaler counts as running);
- ``P:worker:<hostname>`` and ``P:workers`` (:mod:`services.queue.heartbeats`);
- ``P:metrics:job_duration:<kind>`` and ``P:metrics:jobs_finished`` (:mod:`services.queue.job_metrics`);

Kombu's own keys are listed here too, though no prefix applies to them: a queue's lists
(:func:`queue_lists`) and the unacknowledged messages (:data:`UNACKED`, :data:`UNACKED_INDEX`).
"""

from __future__ import annotations

from dataclasses import dataclass

#: The prefix of every key of ours, unless ``TASKONOMY_STATE_PREFIX`` says otherwise.
DEFAULT_PREFIX = "taskonomy"

#: Kombu's separator and Celery's default priority steps for Redis queues (``queue\x06\x163``).
PRIORITY_SEP = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)
#: Kombu's Redis keys of the messages delivered and not acknowledged yet (hash tag -> message,
#: sorted set tag -> delivery time).
UNACKED, UNACKED_INDEX = "unacked", "unacked_index"


def queue_lists(queue: str) -> tuple[str, ...]:
    """The Redis lists holding ``queue``'s waiting messages (kombu's: the plain list first)."""
    return (queue, *(f"{queue}{PRIORITY_SEP}{step}" for step in PRIORITY_STEPS))


@dataclass(frozen=True)
class KeySchema:
    """The keys of one prefix."""

    prefix: str = DEFAULT_PREFIX

    # -- experiment records ------------------------------------------------------------------
    def experiment(self, exp_id: str) -> str:
        """The experiment's record (hash)."""
        return f"{self.prefix}:exp:{exp_id}"

    def experiment_events(self, exp_id: str) -> str:
        """The experiment's events (list, oldest first)."""
        return f"{self.prefix}:exp:{exp_id}:events"

    def stage_counts(self, exp_id: str, which: str) -> str:
        """Stage -> job count (hash) of ``which`` jobs: ``total``, ``done`` or ``failed``."""
        if which not in ("total", "done", "failed"):
            raise ValueError(f"which must be total, done or failed, got {which!r}")
        return f"{self.prefix}:exp:{exp_id}:{which}"

    def experiments(self) -> str:
        """Every experiment id scored by its creation time (sorted set)."""
        return f"{self.prefix}:exps"

    # -- runs ----------------------------------------------------------------------------------
    def current_run(self, exp_id: str) -> str:
        """The number of the experiment's current run."""
        return f"{self.prefix}:exp:{exp_id}:run"

    def run_token(self, exp_id: str) -> str:
        """The id of the start message that made the current run."""
        return f"{self.prefix}:exp:{exp_id}:run_token"

    def run_store(self, exp_id: str) -> str:
        """The artifact store URL the experiment was submitted with or last ran on."""
        return f"{self.prefix}:exp:{exp_id}:store"

    def run(self, exp_id: str, run: int) -> str:
        """The common start of one run's keys (``run_part(..., part)`` = this + ``:part``)."""
        return f"{self.prefix}:run:{exp_id}:{int(run)}"

    def run_part(self, exp_id: str, run: int, part: str) -> str:
        """One key of a run's bookkeeping (``jobs``, ``deps:<job id>``, ``done``...)."""
        return f"{self.run(exp_id, run)}:{part}"

    # -- jobs, queues and workers ----------------------------------------------------------------
    def lease(self, job_id: str) -> str:
        """A running job's lease (its holder's token)."""
        return f"{self.prefix}:lease:{job_id}"

    def running(self, queue: str) -> str:
        """The ids of ``queue``'s running jobs (list; the chart's KEDA triggers read it)."""
        return f"{self.prefix}:running:{queue}"

    def worker(self, hostname: str) -> str:
        """A live worker's heartbeat (expires three beats after the last)."""
        return f"{self.prefix}:worker:{hostname}"

    def workers(self) -> str:
        """Every worker seen (hash hostname -> JSON), live or lost."""
        return f"{self.prefix}:workers"

    # -- job metrics -----------------------------------------------------------------------------
    def job_duration(self, kind: str) -> str:
        """The duration histogram of one job kind (hash)."""
        return f"{self.prefix}:metrics:job_duration:{kind}"

    def jobs_finished(self) -> str:
        """Finished jobs, ``<kind>|<outcome>`` -> count (hash)."""
        return f"{self.prefix}:metrics:jobs_finished"
