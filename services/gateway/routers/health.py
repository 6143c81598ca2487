"""Liveness (``/healthz``: the process answers) and readiness (``/readyz``: Redis and the solver
answer; 503 otherwise, so a load balancer stops routing here)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from services.gateway.deps import Ctx
from services.gateway.schemas import HealthOut

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut, summary="Liveness")
def healthz() -> HealthOut:
    return HealthOut(status="ok")


def _checks(ctx: Ctx) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        ctx.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"unavailable: {type(exc).__name__}"
    try:
        status = ctx.solver.health(timeout_s=2.0)
        checks["solver"] = "ok" if status == "SERVING" else status.lower()
    except Exception as exc:
        checks["solver"] = f"unavailable: {type(exc).__name__}"
    return checks


@router.get("/readyz", response_model=HealthOut, summary="Readiness (Redis and solver reachable)",
            responses={503: {"model": HealthOut, "description": "a dependency is not reachable"}})
async def readyz(ctx: Ctx) -> JSONResponse:
    checks = await run_in_threadpool(_checks, ctx)
    ok = all(v == "ok" for v in checks.values())
    body = HealthOut(status="ok" if ok else "unavailable", checks=checks)
    headers = {} if ok else {"Retry-After": str(ctx.settings.retry_after_s)}
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503, headers=headers)
