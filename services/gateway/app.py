"""The gateway application: ``create_app(settings) -> FastAPI``.

One router per resource (experiments, tables, taxonomy, tasks, cluster, health and metrics, ui);
errors as problem+json (:mod:`services.gateway.problems`); bearer tokens for every mutating call
(:mod:`services.gateway.auth`); request latency by route template and a body size limit
(:mod:`services.gateway.middleware`). Never imports torch or worker code: experiments go to the
Celery executor by task name.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from services.gateway import problems
from services.gateway.auth import install_redaction
from services.gateway.context import GatewayContext
from services.gateway.middleware import GatewayMiddleware
from services.gateway.routers import cluster, experiments, health, metrics, models, tables, tasks, taxonomy, ui
from services.gateway.settings import GatewaySettings, load_settings
from services.queue.submission import BrokerUnavailableError

log = logging.getLogger("services.gateway")

API_VERSION = "1.0.0"
DESCRIPTION = """\
Submit and watch Taskonomy experiments, read their transfer tables and query taxonomies over them
and over the published Taskonomy tables (`paper-16k`, `paper-1k`, `paper-base`).

Mutating calls need `Authorization: Bearer <token>` (tokens from `TASKONOMY_API_TOKENS`); reads are
open unless the gateway sets `TASKONOMY_READS_REQUIRE_TOKEN`. Errors are RFC 9457 problem details
(`application/problem+json`).
"""


def _custom_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    from taskonomy.contract import PRESETS, ExperimentSpec

    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    spec_schema = ExperimentSpec.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in spec_schema.pop("$defs", {}).items():
        components.setdefault(name, sub)
    components["ExperimentSpec"] = spec_schema
    components["PresetSubmission"] = {
        "type": "object", "title": "PresetSubmission", "required": ["preset"],
        "description": "a preset of taskonomy.contract, with fields that override it",
        "properties": {"preset": {"type": "string", "enum": list(PRESETS)}},
        "additionalProperties": True,
    }
    app.openapi_schema = schema
    return schema


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    """Build the app (connects to nothing until a request needs it)."""
    settings = settings if settings is not None else load_settings()
    ctx = GatewayContext(settings)
    if not settings.tokens():
        log.warning("gateway: no API token configured: every mutating call will be refused")
    install_redaction(settings.tokens())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        ctx.close()

    # /docs and /redoc with their assets served by the gateway itself (no CDN: air-gapped clusters)
    app = FastAPIOffline(title="Taskonomy gateway", version=API_VERSION, description=DESCRIPTION, lifespan=lifespan,
                         static_url="/docs-static")
    app.state.ctx = ctx
    problems.install(app)
    _install_redis_errors(app, settings)
    for module in (experiments, models, tables, taxonomy, tasks, cluster, health, metrics, ui):
        app.include_router(module.router)
    app.mount("/ui/static", StaticFiles(directory=ui.STATIC_DIR), name="static")
    app.add_middleware(GatewayMiddleware, max_body_bytes=settings.max_body_bytes)
    app.openapi = lambda: _custom_openapi(app)  # type: ignore[method-assign]
    return app


def _install_redis_errors(app: FastAPI, settings: GatewaySettings) -> None:
    async def on_redis_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("redis unavailable on %s: %s", request.url.path, type(exc).__name__)
        return problems.problem_response(503, "unavailable", "the state store (Redis) cannot be reached",
                                         instance=request.url.path,
                                         headers={"Retry-After": str(settings.retry_after_s)})

    async def on_broker_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("broker unavailable on %s: %s", request.url.path, exc)
        return problems.problem_response(503, "unavailable", str(exc), instance=request.url.path,
                                         headers={"Retry-After": str(settings.retry_after_s)})

    app.add_exception_handler(BrokerUnavailableError, on_broker_down)
    app.add_exception_handler(redis.exceptions.ConnectionError, on_redis_down)
    app.add_exception_handler(redis.exceptions.TimeoutError, on_redis_down)
