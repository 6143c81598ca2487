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
