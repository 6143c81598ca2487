"""One exception hierarchy for the whole core.

Every error a *caller* can cause derives from :class:`TaskonomyError`; transports map these
classes once each (CLI: one line and exit code 2; HTTP: problem+json 4xx; gRPC: a canonical
status). Internal invariants use ``assert`` and are never caught here.

========================  ==========  ===================
class                     HTTP        gRPC
========================  ==========  ===================
InvalidInputError         422 / 400   INVALID_ARGUMENT
NotFoundError             404         NOT_FOUND
PreconditionError         409         FAILED_PRECONDITION
CorruptArtifactError      409         DATA_LOSS
========================  ==========  ===================
"""

from __future__ import annotations

import types
import typing
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError


class TaskonomyError(Exception):
    """Base class of every error a caller of the core can cause."""

    #: Short machine-readable code used by the transports (problem+json ``type`` suffix).
    code: str = "taskonomy-error"


class InvalidInputError(TaskonomyError, ValueError):
    """The caller passed a value that is out of range, malformed or inconsistent."""

    code = "invalid-input"


class NotFoundError(TaskonomyError, LookupError):
    """A named thing (task, table, experiment, artifact) does not exist."""

    code = "not-found"


class PreconditionError(TaskonomyError):
    """The request is well formed but the system is not in a state that allows it."""

    code = "failed-precondition"


class CorruptArtifactError(TaskonomyError):
    """A stored artifact failed its checksum or could not be decoded."""

    code = "corrupt-artifact"


def did_you_mean(name: str, known: list[str] | tuple[str, ...]) -> str:
    """Return ``"unknown X; known: a, b, c"``-style help text for a failed lookup."""
    import difflib

    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return f"{name!r}{hint}; known: {', '.join(sorted(known))}"


def format_validation_error(exc: ValidationError, model: type | None = None) -> str:
    """A pydantic ``ValidationError`` as one line: ``field.path: message; other.field: message``.

    Every problem names its field by its dotted path (union tags such as a dataset's ``kind`` are
    left out of the path). An unknown key says which keys the block allows when ``model`` (the
    class that was validated) is given.
    """
    parts = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        path, fields = _walk(model, loc[:-1] if err.get("type") == "extra_forbidden" else loc)
        if err.get("type") == "extra_forbidden" and loc:
            path = [*path, str(loc[-1])]
            msg = "unknown key" + (f"; allowed: {', '.join(fields)}" if fields else "")
        else:
            msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        where = ".".join(path)
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


def _walk(model: type | None, loc: tuple[int | str, ...]) -> tuple[list[str], list[str]]:
    """The display path of ``loc`` in ``model`` (without union tags) and the field names found there."""
    def unwrap(t: Any) -> Any:
        while typing.get_origin(t) is typing.Annotated:
            t = typing.get_args(t)[0]
        return t

    def members(t: Any) -> tuple[Any, ...]:
        if typing.get_origin(t) in (typing.Union, types.UnionType):
            return tuple(unwrap(a) for a in typing.get_args(t) if a is not type(None))
        return (t,)

    path: list[str] = []
    cur: Any = unwrap(model) if model is not None else None
    for part in loc:
        options = members(cur)
        tagged = [m for m in options if _is_model(m) and _tag(m) == part]
        if len(options) > 1 and tagged:  # a discriminated union's tag: pick that member, keep it out of the path
            cur = tagged[0]
            continue
        path.append(str(part))
        cur = options[0] if len(options) == 1 else None
        if _is_model(cur) and isinstance(part, str) and part in cur.model_fields:
            cur = unwrap(cur.model_fields[part].annotation)
        elif typing.get_origin(cur) in (list, tuple) and isinstance(part, int):
            cur = unwrap(typing.get_args(cur)[0])
        elif typing.get_origin(cur) is dict:
            cur = unwrap(typing.get_args(cur)[1])
        else:
            cur = None
    found = members(cur)
    fields = sorted(found[0].model_fields) if len(found) == 1 and _is_model(found[0]) else []
    return path, fields


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and hasattr(t, "model_fields")


def _tag(model: Any) -> Any:
    field = model.model_fields.get("kind")
    return None if field is None else field.default
