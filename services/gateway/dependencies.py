"""The gateway's dependencies, checked one by one: Redis (state store and broker), the solver
(taxonomy queries) and the artifact store (submissions, models, reports).

A missing dependency never takes the gateway out of its Service: ``/readyz`` means "this process
serves" and stays 200, while the requests that need the missing dependency answer 503 with
Retry-After. What is up is reported separately, by ``GET /v1/health`` (one entry per dependency)
and by ``taskonomy_dependency_up{dependency}`` on ``/metrics`` (1 up, 0 down), both from
:func:`check_dependencies`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from services.gateway.problems import ServiceUnavailable
from services.metric_catalog import DEPENDENCY_UP

DEPENDENCIES = ("redis", "solver", "store")
#: How long one check may take; the three run at once, so a check answers within about this.
CHECK_TIMEOUT_S = 3.0
#: What stops working while each dependency is down (shown by ``/v1/health``).
NEEDED_BY = {
    "redis": "experiments (submit, list, status, cancel), models, metrics read from Redis",
    "solver": "taxonomy queries",
    "store": "submissions, models and reports",
}


@dataclass(frozen=True)
class DependencyStatus:
    name: str
    up: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"up": self.up, "detail": self.detail, "needed_by": NEEDED_BY[self.name]}


def _redis(ctx: Any) -> DependencyStatus:
    try:
        ctx.redis.ping()
    except Exception as exc:
        return DependencyStatus("redis", False, f"unavailable: {type(exc).__name__}")
    return DependencyStatus("redis", True, "ok")


def _solver(ctx: Any) -> DependencyStatus:
    try:
        status = str(ctx.solver.health(timeout_s=CHECK_TIMEOUT_S))
    except Exception as exc:
        return DependencyStatus("solver", False, f"unavailable: {type(exc).__name__}")
    return DependencyStatus("solver", status == "SERVING", "ok" if status == "SERVING" else status.lower())


def _store(ctx: Any) -> DependencyStatus:
    try:
        ctx.check_store(timeout_s=CHECK_TIMEOUT_S)  # a probe object; a success is trusted for store_check_s
    except ServiceUnavailable as exc:  # names the store and the problem
        return DependencyStatus("store", False, exc.detail)
    except Exception as exc:
        return DependencyStatus("store", False, f"unavailable: {type(exc).__name__}")
    return DependencyStatus("store", True, "ok")


def check_dependencies(ctx: Any) -> dict[str, DependencyStatus]:
    """Check each dependency (blocking: run it in a thread from async code) and set
    ``taskonomy_dependency_up`` to what was found."""
    checks = (_redis, _solver, _store)
    with ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="dependency-check") as pool:
        found = {s.name: s for s in pool.map(lambda check: check(ctx), checks)}
    for name, status in found.items():
        DEPENDENCY_UP.labels(dependency=name).set(1 if status.up else 0)
    return found
