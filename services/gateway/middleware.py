"""The gateway's one ASGI middleware: request latency by route template, body size limit, and a
last-resort handler that answers unexpected errors with a detail-free problem+json 500.

Pure ASGI (no BaseHTTPMiddleware) so streaming and background tasks are untouched.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.problems import problem_response
from services.metric_catalog import HTTP_LATENCY

log = logging.getLogger("services.gateway")

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Route label of a request that matched no route (keeps label values bounded).
UNMATCHED = "<unmatched>"


class _BodyTooLarge(Exception):
    pass


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/v1/experiments/{id}``), never the concrete path."""
    route = scope.get("route")
    path = getattr(route, "path", None) if route is not None else None
    return path if isinstance(path, str) and path else UNMATCHED


class GatewayMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500, "started": False}
        method = scope.get("method", "GET")
        method = method if method in _METHODS else "OTHER"

        over = {"hit": False, "replaced": False}

        async def emit(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
                status["started"] = True
            await send(message)

        async def send_wrapper(message: Message) -> None:
            if over["hit"]:  # the app answered a body it could not read in full (FastAPI says 400): 413
                if not over["replaced"] and message["type"] == "http.response.start":
                    over["replaced"] = True
                    await _send_problem(emit, 413, "body-too-large",
                                        f"request body exceeds the limit of {self.max_body_bytes} bytes", scope)
                return
            await emit(message)

        try:
            length = _content_length(scope)
            if length is not None and length > self.max_body_bytes:
                await _send_problem(send_wrapper, 413, "body-too-large",
                                    f"request body of {length} bytes exceeds the limit of {self.max_body_bytes}",
                                    scope)
                return
            received = {"n": 0}

            async def receive_wrapper() -> Message:
                message = await receive()
                if message["type"] == "http.request":
                    received["n"] += len(message.get("body", b""))
                    if received["n"] > self.max_body_bytes:
                        over["hit"] = not status["started"]
                        raise _BodyTooLarge()
                return message

            await self.app(scope, receive_wrapper, send_wrapper)
        except _BodyTooLarge:
            if not status["started"]:
                await _send_problem(emit, 413, "body-too-large",
                                    f"request body exceeds the limit of {self.max_body_bytes} bytes", scope)
        except Exception:
            log.exception("unexpected error answering %s %s", method, route_template(scope))
            if not status["started"]:
                await _send_problem(emit, 500, "internal",
                                    "internal error; the gateway logged the details", scope)
        finally:
            HTTP_LATENCY.labels(method=method, route=route_template(scope), status=str(status["code"])).observe(
                time.perf_counter() - start)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_problem(send: Send, status: int, code: str, detail: str, scope: Scope) -> None:
    """The same problem+json response (rendering and headers) as the exception handlers send."""
    response = problem_response(status, code, detail, instance=str(scope.get("path", "")))
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})
