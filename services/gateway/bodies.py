"""Request bodies: one way to refuse a body that is not JSON, for every route that takes JSON.

- a body with no or another Content-Type than ``application/json`` (or ``...+json``) on a JSON
  route: **415** ``unsupported-media-type`` (:func:`require_json`, a route dependency that runs
  before FastAPI validates the body);
- a body that is not JSON (malformed, not UTF-8, nested deeper than the parser goes): **400**
  ``malformed-body`` (:func:`parse_json`, and :mod:`services.gateway.problems` maps FastAPI's own
  parse failures to the same problem).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Depends, Request

from services.gateway.problems import MALFORMED_BODY, ProblemError


def is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def require_json(request: Request) -> None:
    """415 unless the request says its body is JSON (a route dependency)."""
    content_type = request.headers.get("content-type")
    if not is_json(content_type):
        got = f"Content-Type {content_type!r}" if content_type else "no Content-Type"
        raise ProblemError(415, "unsupported-media-type",
                           f"the request body must be JSON (Content-Type: application/json); got {got}")


def parse_json(raw: bytes) -> Any:
    """The JSON document in ``raw`` (strict UTF-8), or a 400 ``malformed-body`` problem."""
    try:
        return json.loads(raw.decode("utf-8")) if raw else None
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ProblemError(400, MALFORMED_BODY, "the request body is not valid JSON") from None


#: The dependency of every route whose body is JSON.
JsonBody = Depends(require_json)
