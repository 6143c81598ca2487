"""``GET /metrics``: Prometheus exposition (open, like the health probes, for the scraper)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from services.gateway.cluster_metrics import exposition
from services.gateway.deps import Ctx

router = APIRouter(tags=["health"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "exposition format 0.0.4"}})
def metrics(ctx: Ctx) -> Response:
    body, content_type = exposition(ctx)
    return Response(body, media_type=content_type)
