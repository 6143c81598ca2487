"""Experiment state shared by the gateway (reads, submits, cancels) and the Celery executor
(writes progress), kept in Redis.

Keys (``P`` = the prefix, default ``taskonomy``; built by :mod:`services.queue.redis_keys`):

- ``P:exp:<id>`` hash: ``id``, ``state``, ``spec`` (JSON), ``created_at``, ``updated_at``,
  ``error``, ``cancel_requested`` ("1" once asked), ``result`` (JSON, e.g. artifact keys),
  ``progress_at`` (when a job last finished), ``jobs_restored`` / ``jobs_retried`` (counts: jobs
  restored or sent again after a lost worker or message, jobs retried after a transient error).
- ``P:exp:<id>:events`` list: the experiment's events, oldest first, JSON ``{"at", "event", ...}``,
  capped at :data:`EVENTS_MAX` (see :data:`EVENTS`).
- ``P:exp:<id>:total`` / ``P:exp:<id>:done`` / ``P:exp:<id>:failed`` hashes: stage → job counts
  (``HINCRBY`` keeps concurrent workers correct).
- ``P:exps`` sorted set: id scored by creation time (newest last).

States: PENDING → RUNNING → SUCCEEDED | FAILED | CANCELLED (CANCELLING in between).
"""

from __future__ import annotations

import builtins
import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import redis

from services.queue.redis_keys import DEFAULT_PREFIX, KeySchema
from services.queue.redisconn import redis_client

#: An experiment's state, defined here only (the gateway's schemas, its metrics and the workers import it).
ExperimentState = Literal["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLING", "CANCELLED"]
STATES: tuple[str, ...] = get_args(ExperimentState)
#: States of a finished experiment: nothing of it runs any more.
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
#: States of an experiment that is not finished (PENDING, RUNNING, CANCELLING).
ACTIVE = frozenset(STATES) - TERMINAL

#: The event a change into each state records.
STATE_EVENTS = {"PENDING": "pending", "RUNNING": "started", "SUCCEEDED": "succeeded", "FAILED": "failed",
                "CANCELLING": "cancelling", "CANCELLED": "cancelled"}
#: Events of an experiment: its submission and state changes, and its recoveries: a job (or a start
#: message) restored to its queue after its worker was lost, a job or start sent again after its
#: message was lost, a job retried after a transient error.
EVENTS = ("submitted", "resubmitted", *STATE_EVENTS.values(), "job_restored", "start_restored", "job_resent",
          "start_resent", "job_retried")
#: Events counted in ``jobs_restored`` / ``jobs_retried`` of the record.
RESTORED_EVENTS = frozenset({"job_restored", "job_resent"})
RETRIED_EVENTS = frozenset({"job_retried"})
#: The newest events kept per experiment.
EVENTS_MAX = 200

@dataclass
class StageProgress:
    total: int = 0
    done: int = 0
    failed: int = 0

    @property
    def ratio(self) -> float:
        return self.done / self.total if self.total else 0.0


@dataclass
class ExperimentRecord:
    id: str
    state: str
    spec: dict[str, Any]
    created_at: float
    updated_at: float
    error: str | None = None
    cancel_requested: bool = False
    result: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, StageProgress] = field(default_factory=dict)
    progress_at: float | None = None
    jobs_restored: int = 0
    jobs_retried: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "spec": self.spec,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "error": self.error,
            "cancel_requested": self.cancel_requested,
            "result": self.result,
            "progress_at": self.progress_at,
            "jobs_restored": self.jobs_restored,
            "jobs_retried": self.jobs_retried,
            "stages": {
                name: {"total": s.total, "done": s.done, "failed": s.failed, "ratio": round(s.ratio, 4)}
                for name, s in self.stages.items()
            },
        }


class ExperimentStateStore:
    """Experiment records in Redis. Safe for concurrent writers (atomic hash ops)."""

    def __init__(self, client: redis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.r: Any = client  # redis' own type hints are too loose to help here
        self.prefix = prefix
        self.keys = KeySchema(prefix)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = DEFAULT_PREFIX) -> ExperimentStateStore:
        return cls(redis_client(url, socket_timeout=None, connect_timeout=None, health_check_interval=0,
                                retry_through_restart=False), prefix=prefix)

    # -- keys -------------------------------------------------------------------------------
    def _k(self, exp_id: str) -> str:
        return self.keys.experiment(exp_id)

    @property
    def _index(self) -> str:
        return self.keys.experiments()

    # -- records ----------------------------------------------------------------------------
    def create(self, exp_id: str, spec: dict[str, Any]) -> tuple[ExperimentRecord, bool]:
        """Create the record unless it exists. Returns (record, created)."""
        now = time.time()
        created = bool(self.r.hsetnx(self._k(exp_id), "id", exp_id))
        if created:
            self.r.hset(self._k(exp_id), mapping={
                "state": "PENDING", "spec": json.dumps(spec, sort_keys=True), "created_at": now,
                "updated_at": now, "error": "", "cancel_requested": "", "result": "{}",
            })
            self.r.zadd(self._index, {exp_id: now})
            self.add_event(exp_id, "submitted")
        record = self.get(exp_id)
        assert record is not None
        return record, created

    def get(self, exp_id: str) -> ExperimentRecord | None:
        h: dict[str, str] = self.r.hgetall(self._k(exp_id))
        if not h or "state" not in h:
            return None
        stages: dict[str, StageProgress] = {}
        for attr in ("total", "done", "failed"):
            counts: dict[str, str] = self.r.hgetall(self.keys.stage_counts(exp_id, attr))
            for stage, n in counts.items():
                setattr(stages.setdefault(stage, StageProgress()), attr, int(n))
        return ExperimentRecord(
            id=exp_id, state=h["state"], spec=json.loads(h.get("spec") or "{}"),
            created_at=float(h.get("created_at") or 0), updated_at=float(h.get("updated_at") or 0),
            error=h.get("error") or None, cancel_requested=bool(h.get("cancel_requested")),
            result=json.loads(h.get("result") or "{}"), stages=stages,
            progress_at=float(h["progress_at"]) if h.get("progress_at") else None,
            jobs_restored=int(h.get("jobs_restored") or 0), jobs_retried=int(h.get("jobs_retried") or 0),
        )

    def list(self, *, limit: int = 100, offset: int = 0) -> list[ExperimentRecord]:
        """Newest first."""
        ids = self.r.zrevrange(self._index, offset, offset + limit - 1)
        records = [self.get(i) for i in ids]
        return [r for r in records if r is not None]

    def count(self) -> int:
        """How many experiments there are."""
        return int(self.r.zcard(self._index))

    def count_by_state(self) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        for exp_id in self.r.zrange(self._index, 0, -1):
            state = self.r.hget(self._k(exp_id), "state")
            if state in counts:
                counts[str(state)] += 1
        return counts

    # -- transitions ------------------------------------------------------------------------
    def set_state(self, exp_id: str, state: str, *, error: str | None = None) -> None:
        if state not in STATES:
            raise ValueError(f"state must be one of {STATES}, got {state!r}")
        mapping: dict[str, Any] = {"state": state, "updated_at": time.time()}
        if error is not None:
            mapping["error"] = error
        pipe = self.r.pipeline(transaction=True)
        pipe.hget(self._k(exp_id), "state")
        pipe.hset(self._k(exp_id), mapping=mapping)
        before = pipe.execute()[0]
        if before != state:  # a redelivered transition records no second event
            self.add_event(exp_id, STATE_EVENTS[state], **({"error": error} if error else {}))

    def set_result(self, exp_id: str, result: dict[str, Any]) -> None:
        self.r.hset(self._k(exp_id), mapping={"result": json.dumps(result, sort_keys=True), "updated_at": time.time()})

    def request_cancel(self, exp_id: str) -> None:
        self.r.hset(self._k(exp_id), mapping={"cancel_requested": "1", "updated_at": time.time()})

    def cancel_requested(self, exp_id: str) -> bool:
        return bool(self.r.hget(self._k(exp_id), "cancel_requested"))

    def reset_for_rerun(self, exp_id: str, spec: dict[str, Any]) -> None:
        """Reuse a record for a re-submitted or extended experiment (e.g. a task was added)."""
        self.r.hset(self._k(exp_id), mapping={"state": "PENDING", "spec": json.dumps(spec, sort_keys=True),
                                              "error": "", "cancel_requested": "", "updated_at": time.time()})
        self.r.hdel(self._k(exp_id), "progress_at")
        self.r.delete(*(self.keys.stage_counts(exp_id, which) for which in ("total", "done", "failed")))
        self.add_event(exp_id, "resubmitted")

    # -- progress ---------------------------------------------------------------------------
    def add_stage_jobs(self, exp_id: str, stage: str, n: int = 1) -> None:
        self.r.hincrby(self.keys.stage_counts(exp_id, "total"), stage, n)

    def job_done(self, exp_id: str, stage: str, *, failed: bool = False) -> None:
        self.r.hincrby(self.keys.stage_counts(exp_id, "failed" if failed else "done"), stage, 1)
        now = time.time()
        self.r.hset(self._k(exp_id), mapping={"updated_at": now, "progress_at": now})

    # -- events -----------------------------------------------------------------------------
    def add_event(self, exp_id: str, event: str, **detail: Any) -> None:
        """Append an event (one of :data:`EVENTS`; ``detail`` JSON-ready, e.g. ``job``, ``error``),
        keeping the newest :data:`EVENTS_MAX`; restored and retried jobs are counted on the record."""
        if event not in EVENTS:
            raise ValueError(f"event must be one of {EVENTS}, got {event!r}")
        entry = {"at": time.time(), "event": event, **{k: v for k, v in detail.items() if v is not None}}
        pipe = self.r.pipeline(transaction=True)
        pipe.rpush(self.keys.experiment_events(exp_id), json.dumps(entry, sort_keys=True))
        pipe.ltrim(self.keys.experiment_events(exp_id), -EVENTS_MAX, -1)
        if event in RESTORED_EVENTS:
            pipe.hincrby(self._k(exp_id), "jobs_restored", 1)
        elif event in RETRIED_EVENTS:
            pipe.hincrby(self._k(exp_id), "jobs_retried", 1)
        pipe.execute()

    def events(self, exp_id: str) -> builtins.list[dict[str, Any]]:
        """The experiment's events, oldest first."""
        out: builtins.list[dict[str, Any]] = []
        for raw in self.r.lrange(self.keys.experiment_events(exp_id), 0, -1):
            try:
                out.append(json.loads(raw))
            except ValueError:
                continue
        return out
