"""Taxonomy problems and solutions, and their compilation into a solver-ready instance.

Semantics (those of the authors' interactive solver at taskonomy.vision/api, written out here):

* Every task has a role: **target** (root, or receives exactly one transfer edge),
  **source-only** (may be a root, earns nothing), **target-only** (receives exactly one edge,
  never a root) or **unused** (neither; edges reading it are dropped).
* A transfer edge ``S → t`` is a table row of kind first_order, higher_order or random_encoder
  (``random`` is a source-only task); every source in ``S`` must be a root, ``t ∉ S``, and
  ``|S| ≤ max_order``. ``t__t`` (own encoder) therefore never is an edge, ``self__t`` is the
  value of rooting ``t`` and ``pixels__t`` lies outside the taxonomy.
* Objective coefficient of an edge into ``t``: ``r_t · clip(f(v), 1e-5, 1)`` where ``v`` is the
  row's affinity (``f = sqrt``), gain or quality (``f`` = identity). A rooted target earns the
  same function of its ``self__t`` row; a source-only root earns 0.
* Budget: ``Σ_{roots} supervision_cost + Σ_{chosen edges} transfer_cost(target) ≤ budget``.
  Supervision costs 1 per root, except the random encoder (``random``), which needs no labels
  and costs 0 (:data:`DEFAULT_SUPERVISION_COST`), unless ``supervision_cost`` says otherwise. This
  is the one definition of cost: an experiment's stored taxonomy, the gateway and ``taskonomy
  solve`` all report it.

Defaults: targets = every task that receives rows in the table; source-only = the tasks that
appear only as sources and that the task registry knows (``random`` included); anything else
(``class_selected`` in the published tables) is unused. When ``targets`` is given and
``source_only`` is not, every other task of the table that could be a root is source-only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np

from taskonomy.affinity import TransferRow, TransferTable, resolve_task_name
from taskonomy.errors import InvalidInputError
from taskonomy.tasks import registry

Objective = Literal["affinity", "gain", "quality"]
OBJECTIVES: tuple[str, ...] = get_args(Objective)
Status = Literal["OPTIMAL", "INFEASIBLE"]
#: Clip of every objective coefficient before the relative task value.
COEF_CLIP: tuple[float, float] = (1e-5, 1.0)

#: The fields of a :class:`TaxonomyProblem` a caller sets, and their bounds: defined here once and
#: checked by :func:`problem_from_mapping` (the CLI, the solver service and the gateway all use it,
#: and :func:`compile_problem` checks a problem built directly the same way; the gateway's request
#: schema states the same bounds for its OpenAPI document).
PROBLEM_FIELDS: tuple[str, ...] = (
    "targets", "source_only", "target_only", "budget", "max_order", "objective",
    "supervision_cost", "transfer_cost", "task_value",
)
MAX_BUDGET = 1e6
MAX_ORDER = 64
#: Most per-task values (supervision cost, transfer cost, task value).
MAX_COST = 1e6
#: Most tasks in a role list, and the longest task name.
MAX_TASKS = 64
MAX_TASK_NAME = 64


#: Supervision cost of a root when ``TaxonomyProblem.supervision_cost`` does not name it: 1, but 0
#: for the random encoder, which needs no labels.
DEFAULT_SUPERVISION_COST: Mapping[str, float] = {"random": 0.0}


@dataclass(frozen=True)
class TaxonomyProblem:
    """One taxonomy query. Task names may be ours or paper aliases."""

    targets: tuple[str, ...] | None = None
    source_only: tuple[str, ...] | None = None
    target_only: tuple[str, ...] = ()
    budget: float = 6.0
    max_order: int = 5
    objective: Objective = "affinity"
    supervision_cost: Mapping[str, float] = field(default_factory=dict)
    transfer_cost: Mapping[str, float] = field(default_factory=dict)
    task_value: Mapping[str, float] = field(default_factory=dict)


@dataclass
class Edge:
    """A chosen transfer ``sources → target`` with its measured values (None = not measured)."""

    target: str
    sources: tuple[str, ...]
    affinity: float | None
    gain: float | None
    quality: float | None
    value: float = 0.0  # the objective coefficient it contributes

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "sources": list(self.sources), "affinity": self.affinity,
                "gain": self.gain, "quality": self.quality, "value": self.value}


@dataclass
class TaxonomySolution:
    """The answer to a :class:`TaxonomyProblem`: a status, never an exception for infeasibility."""

    status: Status
    objective: float | None
    roots: list[str]
    edges: list[Edge]
    solve_time_s: float
    reason: str | None = None
    budget: float = 6.0
    max_order: int = 5
    objective_name: str = "affinity"
    cost: float | None = None
    supervised: list[str] = field(default_factory=list)  # roots that are targets (earn self)
    backend: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` object."""
        return {
            "status": self.status, "objective": self.objective, "objective_name": self.objective_name,
            "budget": self.budget, "max_order": self.max_order, "cost": self.cost,
            "roots": list(self.roots), "supervised": list(self.supervised),
            "edges": [e.to_dict() for e in self.edges], "reason": self.reason,
            "solve_time_s": self.solve_time_s, "backend": self.backend,
        }


@dataclass
class Instance:
    """A compiled problem: roots are indices ``0..n-1`` into ``tasks``; targets index into it too.

    ``edges[k]`` for receiver ``k`` (``receivers[k]``) is a list of ``(source_mask, value, row)``.
    Receivers are the targets (indices < n, may be roots) and target-only tasks (not rootable).
    """

    tasks: list[str]                 # rootable tasks (targets and source-only), table names
    cost: np.ndarray                 # supervision cost per rootable task
    root_value: np.ndarray           # objective earned when rooted (0 for source-only)
    receivers: list[str]             # targets then target-only tasks
    receiver_root: list[int]         # index into tasks, or -1 for target-only
    transfer_cost: np.ndarray        # per receiver
    edges: list[list[tuple[int, float, TransferRow]]]
    self_rows: dict[str, TransferRow | None]
    budget: float
    max_order: int
    objective: str
    dropped: int = 0                 # edges removed as dominated

    @property
    def n(self) -> int:
        return len(self.tasks)


def coefficient(value: float, objective: str, weight: float) -> float:
    """``weight · clip(sqrt(value) if objective == 'affinity' else value, 1e-5, 1)``."""
    v = math.sqrt(value) if objective == "affinity" else value
    return weight * min(max(v, COEF_CLIP[0]), COEF_CLIP[1])


def _finite_nonneg(name: str, value: object, *, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"{name}: must be a number, got {value!r}")
    v = float(value)
    if math.isnan(v) or math.isinf(v):
        raise InvalidInputError(f"{name}: must be a finite number, got {v}")
    if v < 0:
        raise InvalidInputError(f"{name}: must be >= 0, got {value:g}")
    if high is not None and v > high:
        raise InvalidInputError(f"{name}: must be <= {high:g}, got {value:g}")
    return v


def check_budgets(budgets: Sequence[object], *, field: str = "budgets") -> list[float]:
    """The budgets of a sweep, each checked as a problem's ``budget`` (``field[i]`` names a bad one)."""
    return [_finite_nonneg(f"{field}[{i}]", b, high=MAX_BUDGET) for i, b in enumerate(budgets)]


def _task_list(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise InvalidInputError(f"{name}: must be a list of task names, got {value!r}")
    if len(value) > MAX_TASKS:
        raise InvalidInputError(f"{name}: at most {MAX_TASKS} tasks, got {len(value)}")
    out: list[str] = []
    for i, task in enumerate(value):
        if not isinstance(task, str) or not task.strip():
            raise InvalidInputError(f"{name}[{i}]: must be a task name, got {task!r}")
        if len(task) > MAX_TASK_NAME:
            raise InvalidInputError(f"{name}[{i}]: a task name has at most {MAX_TASK_NAME} characters")
        out.append(task)
    return tuple(out)


def _value_map(name: str, value: object) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{name}: must be a mapping task -> number, got {value!r}")
    if len(value) > MAX_TASKS:
        raise InvalidInputError(f"{name}: at most {MAX_TASKS} tasks, got {len(value)}")
    out: dict[str, float] = {}
    for task, v in value.items():
        if not isinstance(task, str) or not task.strip() or len(task) > MAX_TASK_NAME:
            raise InvalidInputError(f"{name}: keys must be task names of at most {MAX_TASK_NAME} characters, "
                                    f"got {task!r}")
        out[task] = _finite_nonneg(f"{name}[{task}]", v, high=MAX_COST)
    return out


def problem_from_mapping(values: Mapping[str, Any], *, prefix: str = "") -> TaxonomyProblem:
    """A :class:`TaxonomyProblem` from a mapping of its fields (absent = default), every field
    checked against its bounds; an unknown field or a bad value is an InvalidInputError naming the
    field (after ``prefix``, e.g. ``problem.``). Roles and maps are checked against a table only
    when the problem is solved."""
    unknown = sorted(str(k) for k in values if k not in PROBLEM_FIELDS)
    if unknown:
        raise InvalidInputError(f"{prefix.rstrip('.') or 'problem'}: unknown field(s) {', '.join(unknown)}; allowed: "
                                f"{', '.join(PROBLEM_FIELDS)}")
    kw: dict[str, Any] = {}
    for name in ("targets", "source_only"):
        if values.get(name) is not None:
            kw[name] = _task_list(prefix + name, values[name])
    if values.get("target_only") is not None:
        kw["target_only"] = _task_list(prefix + "target_only", values["target_only"])
    if values.get("budget") is not None:
        kw["budget"] = _finite_nonneg(prefix + "budget", values["budget"], high=MAX_BUDGET)
    if values.get("max_order") is not None:
        mo = values["max_order"]
        if isinstance(mo, bool) or not isinstance(mo, (int, np.integer)) or not 1 <= mo <= MAX_ORDER:
            raise InvalidInputError(f"{prefix}max_order: must be an integer in 1..{MAX_ORDER}, got {mo!r}")
        kw["max_order"] = int(mo)
    if values.get("objective") is not None:
        if values["objective"] not in OBJECTIVES:
            raise InvalidInputError(f"{prefix}objective: must be one of {', '.join(OBJECTIVES)}; "
                                    f"got {values['objective']!r}")
        kw["objective"] = values["objective"]
    for name in ("supervision_cost", "transfer_cost", "task_value"):
        if values.get(name) is not None:
            kw[name] = _value_map(prefix + name, values[name])
    return TaxonomyProblem(**kw)


def _names(field_name: str, names: object, known: Sequence[str], *, skip_absent: bool = False) -> list[str]:
    """Resolve role names to the table's spelling.

    With ``skip_absent``, a task the registry knows but the table never mentions is skipped (it
    could only ever be an idle source); a name nobody knows is always an error.
    """
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise InvalidInputError(f"{field_name}: must be a list of task names, got {names!r}")
    out: list[str] = []
    for n in names:
        if not isinstance(n, str):
            raise InvalidInputError(f"{field_name}: task names must be strings, got {n!r}")
        if skip_absent:
            reg = registry()
            if n not in known and n in reg and not {reg.get(n).name, reg.get(n).alias} & set(known):
                continue
        r = resolve_task_name(n, known, field=field_name)
        if r not in out:
            out.append(r)
    return out


def default_roles(table: TransferTable) -> tuple[list[str], list[str], list[str]]:
    """(targets, source_only, unused) by default: see the module docstring."""
    reg = registry()
    targets = table.targets()
    only_src = table.source_only_tasks()
    source_only = [t for t in only_src if t in reg]
    unused = [t for t in only_src if t not in reg]
    return targets, source_only, unused


def resolve_roles(table: TransferTable, problem: TaxonomyProblem) -> tuple[list[str], list[str], list[str]]:
    """(targets, source_only, target_only) in table names, validated."""
    known = table.tasks()
    table_targets = set(table.targets())
    d_targets, d_source_only, _ = default_roles(table)
    target_only = _names("target_only", problem.target_only, known)
    src = (None if problem.source_only is None
           else _names("source_only", problem.source_only, known, skip_absent=True))
    if problem.targets is None:
        taken = set(target_only) | set(src or ())
        targets = [t for t in d_targets if t not in taken]
    else:
        targets = _names("targets", problem.targets, known)
    if src is None:
        if problem.targets is None:
            src = [t for t in d_source_only if t not in target_only]
        else:
            assigned = set(targets) | set(target_only)
            rootable = set(d_targets) | set(d_source_only)
            src = [t for t in known if t in rootable and t not in assigned]
    for a_name, a in (("targets", targets), ("source_only", src), ("target_only", target_only)):
        for b_name, b in (("targets", targets), ("source_only", src), ("target_only", target_only)):
            if a_name < b_name:
                both = sorted(set(a) & set(b))
                if both:
                    raise InvalidInputError(f"{a_name}, {b_name}: task {both[0]!r} is given two roles")
    for f_name, group in (("targets", targets), ("target_only", target_only)):
        for t in group:
            if t not in table_targets:
                raise InvalidInputError(f"{f_name}: task {t!r} has no candidates in the table (it only "
                                        f"appears as a source); targets with rows: {', '.join(sorted(table_targets))}")
    if not targets and not target_only:
        raise InvalidInputError("targets: no target and no target-only task; nothing to solve")
    return targets, src, target_only


def _costs(field_name: str, mapping: Mapping[str, float], known: Sequence[str]) -> dict[str, float]:
    """A checked per-task map (:func:`validate_problem`) with its task names in the table's spelling."""
    return {resolve_task_name(k, known, field=field_name): float(v) for k, v in mapping.items()}


def validate_problem(problem: TaxonomyProblem) -> None:
    """Check every field of ``problem`` as :func:`problem_from_mapping` checks a mapping of them
    (one set of rules whichever way a problem is made; roles and map keys also need the table)."""
    if not isinstance(problem, TaxonomyProblem):
        raise InvalidInputError(f"problem: expected a TaxonomyProblem, got {type(problem).__name__}")
    for name in ("budget", "max_order", "objective", "target_only", "supervision_cost", "transfer_cost", "task_value"):
        if getattr(problem, name) is None:
            raise InvalidInputError(f"{name}: must be set, got None")
    problem_from_mapping({name: getattr(problem, name) for name in PROBLEM_FIELDS})


def compile_problem(table: TransferTable, problem: TaxonomyProblem, *, prune: bool = True,
                    ignore_budget: bool = False) -> Instance:
    """Validate ``problem`` against ``table`` and build the solver instance.

    With ``prune`` (the default), dominated edges are removed: an edge into ``t`` whose source set
    contains the source set of another edge into ``t`` of at least the same value can never be
    needed (any root set that admits it admits the other, and budget does not depend on which
    edge is chosen). Edges whose sources cost more than the budget together are removed too.
    With ``ignore_budget``, the instance's budget is infinite (what explaining an infeasible
    problem needs: which taxonomy would fit at any budget).
    """
    validate_problem(problem)
    targets, source_only, target_only = resolve_roles(table, problem)
    known = table.tasks()
    sup = _costs("supervision_cost", problem.supervision_cost, known)
    trc = _costs("transfer_cost", problem.transfer_cost, known)
    val = _costs("task_value", problem.task_value, known)
    tasks = [t for t in known if t in set(targets) | set(source_only)]
    index = {t: i for i, t in enumerate(tasks)}
    cost = np.array([sup.get(t, DEFAULT_SUPERVISION_COST.get(t, 1.0)) for t in tasks], dtype=float)
    obj = problem.objective
    budget = math.inf if ignore_budget else float(problem.budget)
    target_set = set(targets)
    root_value = np.zeros(len(tasks))
    self_rows: dict[str, TransferRow | None] = {}
    for t in targets:
        row = table.self_row(t)
        self_rows[t] = row
        v = None if row is None else row.value(obj)
        if v is None:
            raise InvalidInputError(f"targets: task {t!r} has no self_full_supervision row with a {obj} value, "
                                    f"so rooting it cannot be valued; make it target_only or give the row")
        root_value[index[t]] = coefficient(v, obj, val.get(t, 1.0))
    receivers = [t for t in tasks if t in target_set] + list(target_only)
    receiver_root = [index.get(t, -1) if t in target_set else -1 for t in receivers]
    tcost = np.array([trc.get(t, 0.0) for t in receivers], dtype=float)
    edges: list[list[tuple[int, float, TransferRow]]] = []
    dropped = 0
    for t in receivers:
        weight = val.get(t, 1.0)
        cand: list[tuple[int, float, TransferRow]] = []
        for r in table.transfer_rows(t):
            if len(r.sources) > problem.max_order or t in r.sources:
                continue
            if any(s not in index for s in r.sources):
                continue
            v = r.value(obj)
            if v is None:
                continue
            mask = 0
            for s in r.sources:
                mask |= 1 << index[s]
            if prune and float(sum(cost[index[s]] for s in r.sources)) > budget + 1e-9:
                continue
            cand.append((mask, coefficient(v, obj, weight), r))
        if prune:
            kept = _undominated(cand)
            dropped += len(cand) - len(kept)
            cand = kept
        edges.append(cand)
    return Instance(tasks=tasks, cost=cost, root_value=root_value, receivers=receivers,
                    receiver_root=receiver_root, transfer_cost=tcost, edges=edges, self_rows=self_rows,
                    budget=budget, max_order=int(problem.max_order), objective=obj, dropped=dropped)


def _undominated(cand: list[tuple[int, float, TransferRow]]) -> list[tuple[int, float, TransferRow]]:
    """Drop edges whose source set ⊇ another's with a value that is not higher.

    Ties keep the edge with fewer sources (then the earlier row), so results are deterministic.
    """
    order = sorted(range(len(cand)), key=lambda i: (-cand[i][1], cand[i][0].bit_count(), i))
    kept: list[tuple[int, float, TransferRow]] = []
    kept_masks: set[int] = set()
    for i in order:
        mask = cand[i][0]
        if _has_kept_subset(mask, kept_masks, kept):
            continue
        kept.append(cand[i])
        kept_masks.add(mask)
    return kept


def _has_kept_subset(mask: int, kept_masks: set[int], kept: list[tuple[int, float, TransferRow]]) -> bool:
    """Whether a kept mask is a subset of ``mask`` (submask enumeration for small masks)."""
    if mask.bit_count() <= 6:
        sub = mask
        while sub:
            if sub in kept_masks:
                return True
            sub = (sub - 1) & mask
        return False
    for k in kept:
        if k[0] & mask == k[0]:
            return True
    return False
