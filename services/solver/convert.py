"""Solver messages <-> core objects, validating every field a caller sets.

The taxonomy problem (and a sweep's budgets) are checked by the core's one definition,
:mod:`taskonomy.selection` (:func:`~taskonomy.selection.problem_from_mapping`,
:func:`~taskonomy.selection.check_budgets`): this module converts, it does not restate the rules.

Each check raises :class:`~taskonomy.errors.InvalidInputError` whose message starts with the
path of the offending field in the request (``problem.budget: ...``,
``targets[0].candidates[2].losses: ...``), so that a gRPC caller sees INVALID_ARGUMENT with a
message that says what to fix. Used by both the server and the client (which converts core
objects into requests and responses back into plain dicts).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

import numpy as np

from services.solver.generated import solver_pb2 as pb
from taskonomy.affinity import TransferRow, TransferTable
from taskonomy.errors import InvalidInputError
from taskonomy.selection import (
    OBJECTIVES,
    PROBLEM_FIELDS,
    TaxonomyProblem,
    TaxonomySolution,
    check_budgets,
    problem_from_mapping,
)
from taskonomy.tasks import KINDS

STATUSES = ("OPTIMAL", "INFEASIBLE")
#: Optional per-candidate values of a ComputeAffinity answer (server and client).
CANDIDATE_VALUES = (
    "affinity", "gain", "quality", "affinity_low", "affinity_high", "gain_low", "gain_high", "quality_low",
    "quality_high",
)
#: Largest request/response (server and client): an inline table of every candidate of a
#: paper-scale experiment is a few MB; per-image losses of 26 targets x ~100 candidates x 17k
#: images are ~360 MB, so send those one target per call.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
#: Most bootstrap resamples one request may ask for (each costs one AHP solve per target).
MAX_BOOTSTRAP = 10_000


# ------------------------------------------------------------------------------------ enums


def _enum_from_proto(enum: Any, value: int, *, prefix: str, field: str, default: str | None = None) -> str:
    """The core's lowercase name of an enum value; UNSPECIFIED gives ``default`` or an error."""
    allowed = ", ".join(n for n in enum.keys() if not n.endswith("_UNSPECIFIED"))
    try:
        name: str = enum.Name(value)
    except ValueError:
        raise InvalidInputError(f"{field}: unknown value {value}; allowed: {allowed}") from None
    if name.endswith("_UNSPECIFIED"):
        if default is None:
            raise InvalidInputError(f"{field}: must be set; allowed: {allowed}")
        return default
    return name.removeprefix(prefix).lower()


def kind_from_proto(value: int, *, field: str) -> str:
    return _enum_from_proto(pb.TransferKind, value, prefix="TRANSFER_KIND_", field=field)


def kind_to_proto(kind: str) -> int:
    assert kind in KINDS, kind
    return int(pb.TransferKind.Value("TRANSFER_KIND_" + kind.upper()))


def objective_from_proto(value: int, *, field: str) -> str:
    return _enum_from_proto(pb.Objective, value, prefix="OBJECTIVE_", field=field, default="affinity")


def objective_to_proto(objective: str, *, field: str = "problem.objective") -> int:
    if objective not in OBJECTIVES:
        raise InvalidInputError(f"{field}: unknown {objective!r}; allowed: {', '.join(OBJECTIVES)}")
    return int(pb.Objective.Value("OBJECTIVE_" + objective.upper()))


def status_to_proto(status: str) -> int:
    assert status in STATUSES, status
    return int(pb.SolutionStatus.Value("SOLUTION_STATUS_" + status))


def status_from_proto(value: int) -> str:
    return str(pb.SolutionStatus.Name(value)).removeprefix("SOLUTION_STATUS_")


# ----------------------------------------------------------------------------- primitives


def _finite(value: float, *, field: str, low: float | None = None, high: float | None = None) -> float:
    if not math.isfinite(value):
        raise InvalidInputError(f"{field}: must be a finite number, got {value}")
    if (low is not None and value < low) or (high is not None and value > high):
        rng = f"[{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
        raise InvalidInputError(f"{field}: must be in {rng}, got {value}")
    return float(value)


def _names(values: Iterable[str], *, field: str, unique: bool = False) -> tuple[str, ...]:
    out = tuple(values)
    for i, name in enumerate(out):
        if not name.strip():
            raise InvalidInputError(f"{field}[{i}]: empty task name")
        if unique and name in out[:i]:
            raise InvalidInputError(f"{field}[{i}]: {name!r} is listed twice")
    return out


# ----------------------------------------------------------------------------------- tables


_ROW_VALUES = ("affinity", "gain", "quality", "affinity_low", "affinity_high")


def table_to_proto(table: TransferTable) -> pb.TransferTable:
    msg = pb.TransferTable()
    for row in table.rows:
        r = msg.rows.add(target=row.target, sources=list(row.sources), kind=kind_to_proto(row.kind))
        for name in _ROW_VALUES:
            value = getattr(row, name)
            if value is not None:
                setattr(r, name, value)
    return msg


def table_from_proto(msg: pb.TransferTable, *, field: str = "transfer_table") -> TransferTable:
    """A validated core table; the core's own checks (kinds vs sources, duplicates...) name the
    row as ``row N`` (1-based) after the ``field`` prefix."""
    if not msg.rows:
        raise InvalidInputError(f"{field}.rows: a transfer table needs at least one row")
    rows = []
    for i, r in enumerate(msg.rows):
        at = f"{field}.rows[{i}]"
        if not r.target.strip():
            raise InvalidInputError(f"{at}.target: empty task name")
        if not r.sources:
            raise InvalidInputError(f"{at}.sources: at least one source (baselines: self, pixels, random, the target)")
        values = {
            name: _finite(getattr(r, name), field=f"{at}.{name}", low=0.0, high=1.0) if r.HasField(name) else None
            for name in _ROW_VALUES
        }
        rows.append(
            TransferRow(
                target=r.target,
                sources=_names(r.sources, field=f"{at}.sources", unique=True),
                kind=kind_from_proto(r.kind, field=f"{at}.kind"),
                **values,
            )
        )
    try:
        return TransferTable.from_rows(rows)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{field}: {exc}") from None


# --------------------------------------------------------------------------------- problems


def _problem_values(problem: TaxonomyProblem | Mapping[str, Any] | None) -> dict[str, Any]:
    if problem is None:
        return {}
    if is_dataclass(problem) and not isinstance(problem, type):
        return {f.name: getattr(problem, f.name) for f in fields(problem) if f.name in PROBLEM_FIELDS}
    if isinstance(problem, Mapping):
        return dict(problem)  # unknown fields: problem_from_mapping names them
    raise TypeError(f"problem must be a TaxonomyProblem or a mapping, not {type(problem).__name__}")


def problem_to_proto(problem: TaxonomyProblem | Mapping[str, Any] | None) -> pb.TaxonomyProblem:
    """A request's problem from a core problem or a mapping of its fields (absent = default),
    checked by the core's one definition (:func:`taskonomy.selection.problem_from_mapping`)
    before anything is sent."""
    v = _problem_values(problem)
    problem_from_mapping(v, prefix="problem.")
    msg = pb.TaxonomyProblem()
    for name in ("targets", "source_only"):
        if v.get(name) is not None:
            getattr(msg, name).SetInParent()
            getattr(msg, name).tasks.extend(v[name])
    msg.target_only.extend(v.get("target_only") or ())
    if v.get("budget") is not None:
        msg.budget = float(v["budget"])
    if v.get("max_order") is not None:
        msg.max_order = int(v["max_order"])
    msg.objective = objective_to_proto(v.get("objective") or "affinity")  # type: ignore[assignment]
    for name in ("supervision_cost", "transfer_cost", "task_value"):
        getattr(msg, name).update({str(k): float(x) for k, x in (v.get(name) or {}).items()})
    return msg


def problem_from_proto(msg: pb.TaxonomyProblem | None, *, field: str = "problem") -> TaxonomyProblem:
    """The core problem of a request, checked by the core's one definition
    (:func:`taskonomy.selection.problem_from_mapping`); unset fields take the core's defaults."""
    if msg is None:
        return TaxonomyProblem()
    values: dict[str, Any] = {"target_only": list(msg.target_only), "objective": objective_from_proto(
        msg.objective, field=f"{field}.objective")}
    for name in ("targets", "source_only"):
        if msg.HasField(name):
            values[name] = list(getattr(msg, name).tasks)
    for name in ("budget", "max_order"):
        if msg.HasField(name):
            values[name] = getattr(msg, name)
    for name in ("supervision_cost", "transfer_cost", "task_value"):
        values[name] = dict(getattr(msg, name))
    return problem_from_mapping(values, prefix=f"{field}.")


def budgets_from_proto(values: Sequence[float], *, field: str = "budgets") -> list[float] | None:
    """A sweep's budgets, each checked as the core checks a problem's budget (None: the default sweep)."""
    if not values:
        return None
    return check_budgets(list(values), field=field)


# -------------------------------------------------------------------------------- solutions


def solution_to_proto(solution: TaxonomySolution) -> pb.TaxonomySolution:
    msg = pb.TaxonomySolution(
        status=status_to_proto(solution.status),  # type: ignore[arg-type]
        roots=list(solution.roots),
        solve_time_s=float(solution.solve_time_s),
        reason=solution.reason or "",
        budget=float(solution.budget),
        max_order=int(solution.max_order),
        objective_name=objective_to_proto(solution.objective_name),  # type: ignore[arg-type]
        supervised=list(solution.supervised),
        backend=solution.backend,
    )
    if solution.objective is not None:
        msg.objective = float(solution.objective)
    if solution.cost is not None:
        msg.cost = float(solution.cost)
    for e in solution.edges:
        edge = msg.edges.add(target=e.target, sources=list(e.sources), value=float(e.value))
        for name in ("affinity", "gain", "quality"):
            value = getattr(e, name)
            if value is not None:
                setattr(edge, name, float(value))
    return msg


def _opt(msg: Any, name: str) -> Any:
    return getattr(msg, name) if msg.HasField(name) else None


def solution_to_dict(msg: pb.TaxonomySolution) -> dict[str, Any]:
    """A plain, JSON-ready dict with exactly the keys of ``TaxonomySolution.to_dict()``."""
    return {
        "status": status_from_proto(msg.status),
        "objective": _opt(msg, "objective"),
        "objective_name": objective_from_proto(msg.objective_name, field="objective_name"),
        "budget": msg.budget,
        "max_order": msg.max_order,
        "cost": _opt(msg, "cost"),
        "roots": list(msg.roots),
        "supervised": list(msg.supervised),
        "edges": [
            {"target": e.target, "sources": list(e.sources), "affinity": _opt(e, "affinity"),
             "gain": _opt(e, "gain"), "quality": _opt(e, "quality"), "value": e.value}
            for e in msg.edges
        ],
        "reason": msg.reason or None,
        "solve_time_s": msg.solve_time_s,
        "backend": msg.backend,
    }


# --------------------------------------------------------------------------------- affinity


@dataclass(frozen=True)
class AffinityInput:
    """One target's tournament, validated: either ``losses`` (candidates x images) or ``win_rates``."""

    target: str
    sources: tuple[tuple[str, ...], ...]
    kinds: tuple[str, ...]
    self_index: int | None
    pixels_index: int | None
    losses: np.ndarray | None = None
    win_rates: np.ndarray | None = None


def _only_one(kinds: Sequence[str], kind: str, *, field: str) -> int | None:
    found = [i for i, k in enumerate(kinds) if k == kind]
    if len(found) > 1:
        raise InvalidInputError(
            f"{field}: at most one candidate may have kind TRANSFER_KIND_{kind.upper()}, got {len(found)} "
            f"(candidates {', '.join(map(str, found))})"
        )
    return found[0] if found else None


def affinity_inputs_from_proto(req: pb.ComputeAffinityRequest) -> list[AffinityInput]:
    if not req.targets:
        raise InvalidInputError("targets: at least one target is required")
    if req.bootstrap > MAX_BOOTSTRAP:
        raise InvalidInputError(f"bootstrap: at most {MAX_BOOTSTRAP} resamples, got {req.bootstrap}")
    if req.HasField("confidence") and not (math.isfinite(req.confidence) and 0.0 < req.confidence < 1.0):
        raise InvalidInputError(f"confidence: must be in (0, 1), got {req.confidence}")
    out = []
    seen: set[str] = set()
    for t, target in enumerate(req.targets):
        at = f"targets[{t}]"
        if not target.target.strip():
            raise InvalidInputError(f"{at}.target: empty task name")
        if target.target in seen:
            raise InvalidInputError(f"{at}.target: {target.target!r} is listed twice")
        seen.add(target.target)
        n = len(target.candidates)
        if n < 2:
            raise InvalidInputError(f"{at}.candidates: a tournament needs at least 2 candidates, got {n}")
        kinds = tuple(
            kind_from_proto(c.kind, field=f"{at}.candidates[{i}].kind") for i, c in enumerate(target.candidates)
        )
        self_index = _only_one(kinds, "self_full_supervision", field=f"{at}.candidates")
        pixels_index = _only_one(kinds, "pixels_scratch_baseline", field=f"{at}.candidates")
        if n - (pixels_index is not None) < 2:
            raise InvalidInputError(f"{at}.candidates: the tournament needs at least 2 candidates besides pixels")
        sources = tuple(
            _names(c.sources, field=f"{at}.candidates[{i}].sources", unique=True)
            for i, c in enumerate(target.candidates)
        )
        use_losses = bool(target.candidates[0].losses)
        for i, c in enumerate(target.candidates):
            has_l, has_w = bool(c.losses), bool(c.win_rates)
            if has_l == has_w:
                raise InvalidInputError(
                    f"{at}.candidates[{i}]: set exactly one of losses or win_rates"
                    + (" (it sets both)" if has_l else " (it sets neither)")
                )
            if has_l != use_losses:
                raise InvalidInputError(
                    f"{at}.candidates[{i}]: sets {'losses' if has_l else 'win_rates'} but candidates[0] sets "
                    f"{'losses' if use_losses else 'win_rates'}; all candidates of a target must use the same one"
                )
        if use_losses:
            arr = _matrix([c.losses for c in target.candidates], field=f"{at}.candidates", part="losses",
                          width=len(target.candidates[0].losses), what="per-image losses (as candidates[0])",
                          allow_nan=True)
            empty = np.isnan(arr).all(axis=1)
            if empty.any():
                raise InvalidInputError(f"{at}.candidates[{int(np.flatnonzero(empty)[0])}].losses: every loss is "
                                        f"NaN (missing); a candidate needs at least one measured image")
            if req.bootstrap and arr.shape[1] < 2:
                raise InvalidInputError(f"{at}.candidates[0].losses: bootstrap needs at least 2 test images")
            out.append(AffinityInput(target.target, sources, kinds, self_index, pixels_index, losses=arr))
        else:
            if req.bootstrap:
                raise InvalidInputError(f"bootstrap: needs per-image losses, but {at} gives win_rates")
            arr = _matrix([c.win_rates for c in target.candidates], field=f"{at}.candidates", part="win_rates",
                          width=n, what="win rates (one per candidate)", low=0.0, high=1.0)
            out.append(AffinityInput(target.target, sources, kinds, self_index, pixels_index, win_rates=arr))
    return out


def _matrix(rows: Sequence[Sequence[float]], *, field: str, part: str, width: int, what: str,
            low: float | None = None, high: float | None = None, allow_nan: bool = False) -> np.ndarray:
    for i, row in enumerate(rows):
        if len(row) != width:
            raise InvalidInputError(f"{field}[{i}].{part}: has {len(row)} values, expected {width} {what}")
    arr = np.asarray(rows, dtype=np.float64)
    bad = np.isinf(arr) if allow_nan else ~np.isfinite(arr)
    with np.errstate(invalid="ignore"):
        if low is not None:
            bad |= arr < low
        if high is not None:
            bad |= arr > high
    if bad.any():
        i, j = (int(x) for x in np.argwhere(bad)[0])
        allowed = "finite (NaN marks a missing loss)" if allow_nan else "finite"
        if low is not None:
            allowed = f"in [{low}, {high}]"
        raise InvalidInputError(f"{field}[{i}].{part}[{j}]: must be {allowed}, got {arr[i, j]}")
    return arr
