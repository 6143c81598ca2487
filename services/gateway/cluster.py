"""The cluster view: the taskonomy Deployments of the gateway's namespace, read through the
``kubernetes`` client with in-cluster config (the Helm chart grants a read-only Role:
``get``/``list`` on ``deployments``).

Deployments are selected by ``app.kubernetes.io/part-of=taskonomy``; ``app.kubernetes.io/component``
tells the worker kinds (``trainer``, ``transfer``) from ``solver`` and ``gateway``. GPUs per pod are
the ``nvidia.com/gpu`` limits of its containers (requests where no limit is set).

Outside a cluster the view answers ``200 {"configured": false, "detail": ...}``: having no
cluster is a normal way to run the system (one host, docker-compose), not an error.
"""

from __future__ import annotations

from typing import Any

from services.gateway.problems import ProblemError, ServiceUnavailable

PART_OF_SELECTOR = "app.kubernetes.io/part-of=taskonomy"
COMPONENT_LABEL = "app.kubernetes.io/component"
WORKER_COMPONENTS = ("trainer", "transfer")
GPU_RESOURCE = "nvidia.com/gpu"
NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
NOT_CONFIGURED = "no cluster configured (not running in Kubernetes)"


def _quantity(value: Any) -> float:
    try:
        return float(str(value))
    except (TypeError, ValueError):
        return 0.0


def deployment_summary(dep: Any) -> dict[str, Any]:
    """Name, component, replica counts and GPUs of a ``V1Deployment``."""
    labels = (dep.metadata.labels or {}) if dep.metadata is not None else {}
    gpus = 0.0
    pod_spec = dep.spec.template.spec if dep.spec is not None and dep.spec.template is not None else None
    for container in (pod_spec.containers or []) if pod_spec is not None else []:
        resources = container.resources
        limits = (resources.limits or {}) if resources is not None else {}
        requests = (resources.requests or {}) if resources is not None else {}
        gpus += _quantity(limits.get(GPU_RESOURCE, requests.get(GPU_RESOURCE, 0)))
    replicas = int(dep.spec.replicas if dep.spec is not None and dep.spec.replicas is not None else 1)
    status = dep.status
    return {
        "name": dep.metadata.name,
        "component": labels.get(COMPONENT_LABEL),
        "replicas": replicas,
        "ready": int(status.ready_replicas or 0) if status is not None else 0,
        "available": int(status.available_replicas or 0) if status is not None else 0,
        "gpus_per_pod": gpus,
        "gpus_requested": gpus * replicas,
    }


def _namespace(configured: str | None) -> str:
    if configured:
        return configured
    try:
        with open(NAMESPACE_FILE, encoding="utf-8") as fh:
            return fh.read().strip() or "default"
    except OSError:
        return "default"


def cluster_view(namespace: str | None = None) -> dict[str, Any]:
    """The view as a JSON-ready dict (see the module docstring)."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    try:
        config.load_incluster_config()
    except ConfigException:
        return {"configured": False, "namespace": None, "detail": NOT_CONFIGURED, "deployments": []}
    ns = _namespace(namespace)
    api = client.AppsV1Api()
    try:
        deps = api.list_namespaced_deployment(ns, label_selector=PART_OF_SELECTOR, _request_timeout=5)
    except client.ApiException as exc:
        raise ProblemError(502, "cluster-api", f"the Kubernetes API refused to list deployments in {ns!r} "
                           f"({exc.status} {exc.reason}); the gateway's role needs get/list on deployments") from None
    except Exception as exc:  # urllib3 connection errors
        raise ServiceUnavailable(f"the Kubernetes API cannot be reached: {type(exc).__name__}") from None
    items = sorted((deployment_summary(d) for d in deps.items), key=lambda d: (d["component"] or "", d["name"]))
    return {"configured": True, "namespace": ns, "detail": None, "deployments": items}
