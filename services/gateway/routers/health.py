"""Liveness (``/healthz``: the process answers), readiness (``/readyz``: this pod serves) and the
dependencies' health (``/v1/health``: Redis, the solver and the store, each up or down).

Readiness does not depend on Redis, the solver or the store: when one is down every gateway pod
would otherwise leave the Service together, and with it the UI, submission and status, not only
what needs the missing dependency. Those requests answer 503 with Retry-After instead
(:mod:`services.gateway.dependencies`).
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from services.gateway.dependencies import check_dependencies
from services.gateway.deps import Ctx
from services.gateway.schemas import DependenciesOut, DependencyOut, HealthOut

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut, summary="Liveness")
def healthz() -> HealthOut:
    return HealthOut(status="ok")


@router.get("/readyz", response_model=HealthOut, summary="Readiness (this gateway serves requests)")
def readyz() -> HealthOut:
    return HealthOut(status="ok")


@router.get("/v1/health", response_model=DependenciesOut, summary="Health of each dependency (Redis, solver, store)")
async def dependencies(ctx: Ctx) -> DependenciesOut:
    found = await run_in_threadpool(check_dependencies, ctx)
    return DependenciesOut(status="ok" if all(s.up for s in found.values()) else "degraded",
                           dependencies={name: DependencyOut(**s.to_dict()) for name, s in found.items()})
