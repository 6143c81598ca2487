"""Errors as RFC 9457 problem details (``application/problem+json``), mapped once for the gateway.

=============================================  ======  ==============================
raised                                         status  ``type``
=============================================  ======  ==============================
:class:`~taskonomy.errors.InvalidInputError`    422    ``urn:taskonomy:problem:invalid-input``
an experiment spec refused at the door          422    ``...:validation`` (with ``errors``)
:class:`~taskonomy.errors.NotFoundError`        404    ``...:not-found``
:class:`~taskonomy.errors.PreconditionError`    409    ``...:failed-precondition``
:class:`~taskonomy.errors.CorruptArtifactError` 409    ``...:corrupt-artifact``
request body fails its schema                   422    ``...:validation`` (with ``errors``)
request body is not JSON (malformed, not UTF-8, 400    ``...:malformed-body``
too deeply nested)
JSON route, body of another Content-Type        415    ``...:unsupported-media-type``
request body too large                          413    ``...:body-too-large``
:class:`ServiceUnavailable` (solver, Redis)     503    ``...:unavailable`` + Retry-After
any other exception                             500    ``...:internal`` (no details; logged)
=============================================  ======  ==============================
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from taskonomy.errors import (
    CorruptArtifactError,
    InvalidInputError,
    NotFoundError,
    PreconditionError,
    TaskonomyError,
)

log = logging.getLogger("services.gateway")

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:taskonomy:problem:"
#: The problem of a request body that is not JSON, whichever parser found it.
MALFORMED_BODY = "malformed-body"
#: FastAPI's detail when it cannot parse a JSON body (not UTF-8, nested too deep...).
_FASTAPI_PARSE_ERROR = "There was an error parsing the body"

_STATUS_OF: tuple[tuple[type[TaskonomyError], int], ...] = (
    (InvalidInputError, 422),
    (NotFoundError, 404),
    (PreconditionError, 409),
    (CorruptArtifactError, 409),
)
_TITLES = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    406: "Not Acceptable", 409: "Conflict", 413: "Content Too Large", 415: "Unsupported Media Type",
    422: "Unprocessable Content", 500: "Internal Server Error", 503: "Service Unavailable",
}


class ServiceUnavailable(Exception):
    """A backing service (the solver, Redis, the broker) cannot be reached: 503 with Retry-After."""

    def __init__(self, detail: str, *, retry_after_s: int = 5) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after_s = retry_after_s


class ProblemError(Exception):
    """Raise from a route to answer with a specific problem (status, code, detail, headers)."""

    def __init__(self, status: int, code: str, detail: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = dict(headers or {})


def problem_body(status: int, code: str, detail: str, *, instance: str | None = None,
                 **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + code, "title": _TITLES.get(status, "Error"), "status": status, "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    body.update(extra)
    return body


def problem_response(status: int, code: str, detail: str, *, instance: str | None = None,
                     headers: Mapping[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse(problem_body(status, code, detail, instance=instance, **extra), status_code=status,
                        media_type=PROBLEM_JSON, headers=dict(headers or {}))


def status_of(exc: TaskonomyError) -> int:
    for cls, status in _STATUS_OF:
        if isinstance(exc, cls):
            return status
    return 400


def _validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        out.append({"loc": loc, "msg": str(err.get("msg", "invalid")).removeprefix("Value error, "),
                    "type": str(err.get("type", "value_error"))})
    return out


#: Documented problem response, for the OpenAPI description of each route.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries documenting problem+json answers."""
    return {s: {"description": _TITLES.get(s, "Error"), "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}
            for s in statuses}


def install(app: FastAPI) -> None:
    """Register the exception handlers that turn every error into problem+json."""

    async def on_taskonomy_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, TaskonomyError)
        errors = getattr(exc, "errors", None)  # field by field, e.g. a spec refused at the door
        extra: dict[str, Any] = {"errors": _validation_errors(errors)} if isinstance(errors, list) and errors else {}
        return problem_response(status_of(exc), exc.code, str(exc), instance=request.url.path, **extra)

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(exc.status, exc.code, exc.detail, instance=request.url.path, headers=exc.headers)

    async def on_unavailable(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ServiceUnavailable)
        log.warning("service unavailable on %s: %s", request.url.path, exc.detail)
        return problem_response(503, "unavailable", exc.detail, instance=request.url.path,
                                headers={"Retry-After": str(exc.retry_after_s)})

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = _validation_errors(exc.errors())
        if any(e["type"] == "json_invalid" for e in errors):
            return problem_response(400, MALFORMED_BODY, "the request body is not valid JSON",
                                    instance=request.url.path)
        detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
        return problem_response(422, "validation", detail, instance=request.url.path, errors=errors)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not-found", 405: "method-not-allowed", 401: "unauthorized", 403: "forbidden"}.get(
            exc.status_code, f"http-{exc.status_code}")
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "error")
        if exc.status_code == 400 and detail == _FASTAPI_PARSE_ERROR:
            return problem_response(400, MALFORMED_BODY, "the request body is not valid JSON",
                                    instance=request.url.path)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no resource at {request.url.path}"
        return problem_response(exc.status_code, code, detail, instance=request.url.path,
                                headers=getattr(exc, "headers", None))

    app.add_exception_handler(TaskonomyError, on_taskonomy_error)
    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(ServiceUnavailable, on_unavailable)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
