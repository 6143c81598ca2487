"""The cluster view's reading of Deployments (real kubernetes client model objects) and its answer
outside a cluster."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from services.gateway.cluster import NOT_CONFIGURED, cluster_view, deployment_summary


def deployment(name: str, component: str, *, replicas: int | None, ready: int | None, gpus: str | None,
               requests_only: bool = False) -> k8s.V1Deployment:
    resources = k8s.V1ResourceRequirements(
        limits=None if requests_only or gpus is None else {"nvidia.com/gpu": gpus, "cpu": "4"},
        requests={"nvidia.com/gpu": gpus} if requests_only and gpus is not None else {"cpu": "1"})
    containers = [k8s.V1Container(name="worker", image="taskonomy/trainer:1", resources=resources),
                  k8s.V1Container(name="sidecar", image="busybox")]
    return k8s.V1Deployment(
        metadata=k8s.V1ObjectMeta(name=name, labels={"app.kubernetes.io/part-of": "taskonomy",
                                                     "app.kubernetes.io/component": component}),
        spec=k8s.V1DeploymentSpec(
            replicas=replicas, selector=k8s.V1LabelSelector(match_labels={"app": name}),
            template=k8s.V1PodTemplateSpec(spec=k8s.V1PodSpec(containers=containers))),
        status=k8s.V1DeploymentStatus(ready_replicas=ready, available_replicas=ready))


def test_deployment_summary_counts_gpus_and_replicas() -> None:
    trainer = deployment_summary(deployment("tx-trainer", "trainer", replicas=3, ready=2, gpus="2"))
    assert trainer == {"name": "tx-trainer", "component": "trainer", "replicas": 3, "ready": 2, "available": 2,
                       "gpus_per_pod": 2.0, "gpus_requested": 6.0}
    scaled_to_zero = deployment_summary(deployment("tx-transfer", "transfer", replicas=0, ready=None, gpus="1"))
    assert scaled_to_zero["ready"] == 0 and scaled_to_zero["gpus_requested"] == 0.0
    requested = deployment_summary(deployment("tx-t2", "transfer", replicas=1, ready=1, gpus="1",
                                              requests_only=True))
    assert requested["gpus_per_pod"] == 1.0
    gateway = deployment_summary(deployment("tx-gateway", "gateway", replicas=None, ready=1, gpus=None))
    assert gateway["replicas"] == 1 and gateway["gpus_per_pod"] == 0.0


def test_outside_a_cluster_nothing_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert cluster_view() == {"configured": False, "namespace": None, "detail": NOT_CONFIGURED, "deployments": []}
