"""``GET /v1/cluster``: the worker Deployments (replicas, ready, GPUs) when running in Kubernetes."""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.cluster import cluster_view
from services.gateway.deps import Ctx, Reader
from services.gateway.problems import problem_responses
from services.gateway.schemas import ClusterOut

router = APIRouter(prefix="/v1/cluster", tags=["cluster"])


@router.get("", response_model=ClusterOut, dependencies=[Reader], summary="Deployments of the cluster",
            description="Outside Kubernetes: 200 with `configured: false` and a detail.",
            responses=problem_responses(401, 403, 502, 503))
def cluster(ctx: Ctx) -> ClusterOut:
    return ClusterOut.model_validate(cluster_view(ctx.settings.kube_namespace))
