"""Worker settings, read from the environment (``TASKONOMY_*``) and validated when a worker starts.

Nothing is read at import: call :func:`load_worker_settings` (the Celery app does so lazily, the
first time its configuration is needed).

The Celery delivery guarantees depend on three durations that must be ordered
``soft_time_limit < time_limit < visibility_timeout``: Redis hands an unacknowledged message to
another worker once the visibility timeout passes, so a job still running by then would run
twice. Tests shorten the visibility timeout to redeliver a killed worker's job within seconds;
they must say so with ``TASKONOMY_ALLOW_SHORT_VISIBILITY=1`` (a duplicate delivery then waits on
the job's lease in Redis instead of running concurrently).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from services.queue.redis_keys import DEFAULT_PREFIX
from services.queue.tasknames import QUEUES
from taskonomy.errors import InvalidInputError

#: The broker (and state store) of every process that names none: a Redis on this machine's loopback
#: (the services bind loopback unless told otherwise; the chart and docker-compose pass their own).
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
#: The URL schemes of a Redis, the only broker the workers speak.
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

WorkerKind = Literal["trainer", "transfer"]

#: Queues each worker kind consumes by default: its GPU queue plus the light control queue.
DEFAULT_QUEUES: dict[str, tuple[str, ...]] = {
    "trainer": ("train", "control"),
    "transfer": ("transfer", "control"),
}


def check_broker_url(url: str, *, name: str | None = "--broker") -> str:
    """``url`` if it is a Redis URL (the only broker the workers speak), else InvalidInputError
    (its message starts with ``name`` when given)."""
    if not isinstance(url, str) or not url.startswith(REDIS_SCHEMES):
        message = f"must be a redis://, rediss:// or unix:// URL, got {url!r}"
        raise InvalidInputError(f"{name} {message}" if name else message)
    return url


class WorkerSettings(BaseSettings):
    """Settings shared by the trainer and transfer workers and by the submitting side."""

    model_config = SettingsConfigDict(env_prefix="TASKONOMY_", extra="ignore", frozen=True)

    broker_url: str = Field(DEFAULT_BROKER_URL, description="Redis URL of the Celery broker and state")
    store_url: str | None = Field(None, description="artifact store used when a submission names none")
    state_prefix: str = Field(DEFAULT_PREFIX, min_length=1, description="key prefix of experiment records in Redis")
    queues: Annotated[tuple[str, ...] | None, NoDecode] = Field(
        None, description="queues to consume (default: per worker kind)")

    soft_time_limit: float = Field(3 * 3600.0, gt=0, description="seconds before a job is asked to stop")
    time_limit: float = Field(3 * 3600.0 + 300, gt=0, description="seconds before a job's process is killed")
    visibility_timeout: float = Field(4 * 3600.0, gt=0, description="seconds before Redis redelivers an unacked job")
    allow_short_visibility: bool = Field(False, description="tests only: permit visibility_timeout <= time_limit")
    unacked_restore_interval: float | None = Field(
        None, gt=0, description="seconds between sweeps that restore unacked messages (kombu's default: ~100 s)")

    shutdown_grace: float = Field(
        5.0, ge=0, description="seconds a running job gets to finish after SIGTERM before it is handed back to its "
                               "queue (keep it below the pod's terminationGracePeriodSeconds)")
    max_retries: int = Field(5, ge=0, le=100, description="retries of a job after a transient storage error")
    retry_backoff: int = Field(2, ge=1, description="first retry delay in whole seconds (Celery's retry_backoff); "
                                                    "doubles each retry")
    retry_backoff_max: int = Field(300, ge=1, description="longest retry delay in whole seconds")
    lease_seconds: float = Field(30.0, gt=0, description="a running job's lease in Redis (renewed every third)")
    lost_job_seconds: float = Field(
        120.0, gt=0, description="recovery time of a message that went down with a killed worker: a job "
                                 "delivered or sent this long ago that is neither done nor running (leased) "
                                 "is restored or sent again; workers look every quarter of this")

    heartbeat_seconds: float = Field(
        5.0, gt=0, le=300, description="seconds between a worker's heartbeats in Redis; a worker that misses "
                                       "three is counted lost (services.queue.heartbeats)")
    torch_threads: int = Field(1, ge=1, le=256, description="torch intra-op threads per worker process")
    gpus: Annotated[tuple[int, ...], NoDecode] = Field(
        (), description="GPU indices; worker process i uses gpus[i % len(gpus)]")
    job_plugins: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="plugin modules extending the workers: job kinds, the store class "
                    "(the extension point of services.queue.jobkinds; none by default)")
    reports: bool = Field(True, description="write each experiment's report (report.html and figures) into its "
                                            "store after the finalize job (a few seconds of a worker)")
    allow_root: bool = Field(False, description="running as root is deliberate (a test machine, a container "
                                                "without a user): no Celery SecurityWarning at start")
    loglevel: str = Field("INFO")

    @field_validator("broker_url")
    @classmethod
    def _redis_url(cls, v: str) -> str:
        return check_broker_url(v, name=None)

    @field_validator("queues", mode="before")
    @classmethod
    def _split_queues(cls, v: object) -> object:
        if isinstance(v, str):
            return tuple(q.strip() for q in v.split(",") if q.strip()) or None
        return v

    @field_validator("job_plugins", mode="before")
    @classmethod
    def _split_plugins(cls, v: object) -> object:
        if isinstance(v, str):
            return tuple(m.strip() for m in v.split(",") if m.strip())
        return v

    @field_validator("gpus", mode="before")
    @classmethod
    def _split_gpus(cls, v: object) -> object:
        if isinstance(v, str):
            return tuple(int(g) for g in v.split(",") if g.strip())
        if isinstance(v, int):
            return (v,)
        return v

    @field_validator("queues")
    @classmethod
    def _known_queues(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for q in v or ():
            if q not in QUEUES:
                raise ValueError(f"unknown queue {q!r}; known: {', '.join(QUEUES)}")
        return v

    @model_validator(mode="after")
    def _ordered_limits(self) -> WorkerSettings:
        if self.soft_time_limit >= self.time_limit:
            raise ValueError(f"TASKONOMY_SOFT_TIME_LIMIT ({self.soft_time_limit}) must be below "
                             f"TASKONOMY_TIME_LIMIT ({self.time_limit})")
        if self.visibility_timeout <= self.time_limit and not self.allow_short_visibility:
            raise ValueError(
                f"TASKONOMY_VISIBILITY_TIMEOUT ({self.visibility_timeout}) must exceed TASKONOMY_TIME_LIMIT "
                f"({self.time_limit}), or a job still running would be delivered again")
        return self

    def queues_for(self, kind: str) -> tuple[str, ...]:
        if self.queues:
            return self.queues
        if kind not in DEFAULT_QUEUES:
            raise InvalidInputError(f"unknown worker kind {kind!r}; known: {', '.join(DEFAULT_QUEUES)}")
        return DEFAULT_QUEUES[kind]


def load_worker_settings(**overrides: object) -> WorkerSettings:
    """Read and validate the settings; a bad value becomes one InvalidInputError naming the variable."""
    try:
        return WorkerSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"TASKONOMY_{'_'.join(str(p) for p in e['loc']).upper()}: {str(e['msg']).removeprefix('Value error, ')}"
            if e["loc"] else str(e["msg"]).removeprefix("Value error, ")
            for e in exc.errors())
        raise InvalidInputError(f"invalid worker settings: {problems}") from None
    except SettingsError as exc:
        raise InvalidInputError(f"invalid worker settings: {exc}") from None
