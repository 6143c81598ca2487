"""``GET /v1/tasks``: the task registry (the 26 built-in tasks and plugins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.gateway.deps import Reader
from services.gateway.problems import problem_responses

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])


@router.get("", dependencies=[Reader], summary="Registered tasks", responses=problem_responses(401, 403))
def list_tasks() -> list[dict[str, Any]]:
    from taskonomy.tasks import registry

    return [spec.to_dict() for spec in registry()]
