"""Request and response bodies of the REST API (kept apart from the core's own models)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.queue.state import ExperimentState
from taskonomy.affinity import BUILTIN_TABLES
from taskonomy.selection import (
    MAX_BUDGET,
    MAX_COST,
    MAX_ORDER,
    MAX_TASK_NAME,
    MAX_TASKS,
    Objective,
    TaxonomyProblem,
    problem_from_mapping,
)

# The taxonomy problem's bounds, objectives and defaults are the core's (taskonomy.selection),
# stated here only for the OpenAPI schema; TaxonomyIn then runs the core's own check
# (problem_from_mapping), so the rules have one definition.
_DEFAULT = TaxonomyProblem()
TaskName = Annotated[str, Field(min_length=1, max_length=MAX_TASK_NAME)]
Cost = Annotated[float, Field(ge=0, le=MAX_COST, allow_inf_nan=False)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- experiments -------------------------------------------------------------------------------
class StageProgressOut(BaseModel):
    total: int
    done: int
    failed: int
    ratio: float = Field(description="done / total (0 when no job is known yet)")


class ExperimentLinks(BaseModel):
    self: str
    transfers: str
    events: str
    report: str  # 404 until the experiment succeeded and its report was written
    ui: str


class ExperimentOut(BaseModel):
    id: str = Field(description="short hash of the experiment's content (same spec, same id)")
    name: str
    state: ExperimentState
    spec: dict[str, Any] = Field(description="the validated ExperimentSpec")
    created_at: float
    updated_at: float
    error: str | None = None
    cancel_requested: bool = False
    result: dict[str, Any] = Field(default_factory=dict, description="artifact keys of the results, once done")
    stages: dict[str, StageProgressOut] = Field(default_factory=dict, description="per-stage job counts")
    progress_at: float | None = Field(None, description="when a job of it last finished (null: none yet)")
    jobs_restored: int = Field(0, description="jobs restored or sent again after a lost worker or message")
    jobs_retried: int = Field(0, description="jobs retried after a transient error")
    links: ExperimentLinks


class ExperimentEventOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    at: float = Field(description="Unix time")
    event: str = Field(description="submitted, resubmitted, started, succeeded, failed, cancelling, cancelled, "
                                   "pending, job_restored, start_restored, job_resent, start_resent, job_retried")
    job: str | None = Field(None, description="the job it concerns, if any")
    reason: str | None = None
    error: str | None = None


class ExperimentEvents(BaseModel):
    experiment: str
    events: list[ExperimentEventOut] = Field(description="oldest first; the newest 200 are kept")


class ExperimentList(BaseModel):
    items: list[ExperimentOut]
    count: int = Field(description="number of experiments in the store")
    limit: int
    offset: int


class AddTaskIn(_In):
    name: TaskName = Field(description="a registered task (ours or its paper alias)")
    role: Literal["target", "source_only", "target_only"] = "target"


# -- taxonomy ----------------------------------------------------------------------------------
class TaxonomyIn(_In):
    """A taxonomy query: the table, and the options of ``taskonomy solve`` (all optional)."""

    table: str = Field(min_length=1, max_length=100,
                       description="paper-16k, paper-1k, paper-base, or the id of a finished experiment",
                       examples=["paper-16k"],
                       json_schema_extra={"anyOf": [{"enum": list(BUILTIN_TABLES)},
                                                    {"pattern": r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$"}]})
    targets: list[TaskName] | None = Field(None, max_length=MAX_TASKS,
                                           description="tasks to solve for (default: every target of the table)")
    source_only: list[TaskName] | None = Field(None, max_length=MAX_TASKS,
                                               description="tasks usable only as sources (default: the table's)")
    target_only: list[TaskName] = Field(default_factory=list, max_length=MAX_TASKS,
                                        description="tasks that must receive a transfer and cannot be roots")
    budget: float = Field(_DEFAULT.budget, ge=0, le=MAX_BUDGET, allow_inf_nan=False, description="supervision budget")
    max_order: int = Field(_DEFAULT.max_order, ge=1, le=MAX_ORDER, description="most sources of one transfer")
    objective: Objective = _DEFAULT.objective
    supervision_cost: dict[TaskName, Cost] = Field(default_factory=dict, max_length=MAX_TASKS,
                                                   description="per task (default 1)")
    transfer_cost: dict[TaskName, Cost] = Field(default_factory=dict, max_length=MAX_TASKS,
                                                description="per target (default 0)")
    task_value: dict[TaskName, Cost] = Field(default_factory=dict, max_length=MAX_TASKS,
                                             description="relative value per target (default 1)")

    @model_validator(mode="after")
    def _the_cores_problem(self) -> TaxonomyIn:
        problem_from_mapping(self.problem())  # the core's definition: the same checks as the solver's
        return self

    def problem(self) -> dict[str, Any]:
        """The problem fields, as the solver client takes them."""
        return self.model_dump(exclude={"table"})


class EdgeOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    target: str
    sources: list[str]
    affinity: float | None = None
    gain: float | None = None
    quality: float | None = None


class TaxonomyOut(BaseModel):
    """The keys of ``taskonomy solve --json``."""

    model_config = ConfigDict(extra="allow")
    status: Literal["OPTIMAL", "INFEASIBLE"]
    objective: float | None = None
    roots: list[str] = Field(default_factory=list)
    edges: list[EdgeOut] = Field(default_factory=list)
    budget: float | None = None
    reason: str | None = None
    solve_time_s: float | None = None


# -- tables ------------------------------------------------------------------------------------
class TableSummary(BaseModel):
    name: str
    kind: Literal["builtin", "experiment"]
    title: str


class TableOut(TableSummary):
    tasks: list[str] = Field(description="every task the table names")
    targets: list[str] = Field(description="tasks that receive transfers (the default targets)")
    source_only: list[str] = Field(description="tasks that are source-only by default")
    unused: list[str] = Field(default_factory=list, description="tasks neither role takes by default")
    rows: list[dict[str, Any]] | None = Field(None, description="the long-format rows (with ?rows=true)")


# -- cluster -----------------------------------------------------------------------------------
class DeploymentOut(BaseModel):
    name: str
    component: str | None = Field(description="app.kubernetes.io/component (trainer, transfer, solver, gateway)")
    replicas: int = Field(description="desired replicas")
    ready: int = Field(description="ready replicas")
    available: int
    gpus_per_pod: float = Field(description="nvidia.com/gpu limits summed over the pod's containers")
    gpus_requested: float = Field(description="gpus_per_pod x desired replicas")


class ClusterOut(BaseModel):
    configured: bool
    namespace: str | None = None
    detail: str | None = None
    deployments: list[DeploymentOut] = Field(default_factory=list)


class HealthOut(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(default_factory=dict)


class DependencyOut(BaseModel):
    up: bool
    detail: str = Field(description="ok, or why it cannot be used")
    needed_by: str = Field(description="what answers 503 (with Retry-After) while it is down")


class DependenciesOut(BaseModel):
    status: Literal["ok", "degraded"] = Field(description="degraded: at least one dependency is down")
    dependencies: dict[str, DependencyOut]
