"""The rendered NetworkPolicies do what the chart README says, checked by evaluating them like a
Kubernetes network plugin would (ingress only: a pod selected by an Ingress policy accepts a
connection only when some rule of a selecting policy matches its source and port):

> only the gateway accepts traffic from outside the release; the solver and Redis accept only the
> release's pods (and the KEDA operator for Redis); workers accept none.

Rendered offline with helm-python, for the default values, with KEDA on, and with the CI values.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

helm = pytest.importorskip("helm_python")

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy/helm/taskonomy"
RELEASE, NAMESPACE = "demo", "ml"
Doc = dict[str, Any]
README_PROMISE = ("only the gateway accepts traffic from outside the release; the solver and Redis accept only the "
                  "release's pods (and the KEDA operator for Redis); workers accept none")


@pytest.fixture(scope="module")
def chart() -> Iterator[Any]:
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def _render(chart: Any, values: dict[str, Any] | None) -> list[Doc]:
    docs: list[Doc] = []
    for path, text in chart.render(values=values, name=RELEASE, namespace=NAMESPACE).items():
        if not path.endswith("NOTES.txt"):
            docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


class Pod:
    def __init__(self, name: str, labels: dict[str, str], namespace: str, ports: dict[str, int] | None = None) -> None:
        self.name, self.labels, self.namespace, self.ports = name, labels, namespace, ports or {}

    @property
    def namespace_labels(self) -> dict[str, str]:
        return {"kubernetes.io/metadata.name": self.namespace}


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"evaluator knows matchLabels only: {selector}"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _peer_matches(peer: dict[str, Any], src: Pod, policy_ns: str) -> bool:
    assert set(peer) <= {"podSelector", "namespaceSelector"}, f"evaluator knows no {set(peer)}"
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], src.namespace_labels):
            return False
    elif src.namespace != policy_ns:  # a podSelector alone means the policy's namespace
        return False
    return "podSelector" not in peer or _selects(peer["podSelector"], src.labels)


def _port_matches(rule: dict[str, Any], dst: Pod, port: str) -> bool:
    if "ports" not in rule:
        return True
    return any(p.get("port") in (port, dst.ports.get(port)) and p.get("protocol", "TCP") == "TCP"
               for p in rule["ports"])


def allowed(policies: list[Doc], src: Pod, dst: Pod, port: str) -> bool:
    selecting = [p for p in policies if p["metadata"].get("namespace", NAMESPACE) == dst.namespace
                 and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
                 and _selects(p["spec"]["podSelector"], dst.labels)]
    if not selecting:
        return True  # not isolated
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            peers = rule.get("from")
            if (peers is None or any(_peer_matches(peer, src, dst.namespace) for peer in peers)) \
                    and _port_matches(rule, dst, port):
                return True
    return False


def _pods(docs: list[Doc]) -> dict[str, Pod]:
    pods = {}
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet"):
            template = doc["spec"]["template"]
            labels = template["metadata"]["labels"]
            ports = {p["name"]: p["containerPort"] for c in template["spec"]["containers"] for p in c.get("ports", [])
                     if "name" in p}
            pods[labels["app.kubernetes.io/component"]] = Pod(labels["app.kubernetes.io/component"], labels,
                                                              NAMESPACE, ports)
    return pods


VARIANTS: dict[str, Any] = {
    "default": None,
    "keda": {"keda": {"enabled": True}},
    "ci": "ci",
}


@pytest.fixture(scope="module", params=list(VARIANTS))
def rendered(request: pytest.FixtureRequest, chart: Any) -> tuple[str, list[Doc], dict[str, Any]]:
    values = VARIANTS[request.param]
    if values == "ci":
        values = yaml.safe_load((CHART / "ci/s3-keda-values.yaml").read_text(encoding="utf-8"))
    return request.param, _render(chart, values), values or {}


def test_the_readme_makes_the_promise_checked_here() -> None:
    text = " ".join((CHART / "README.md").read_text(encoding="utf-8").split())
    assert README_PROMISE in text


def test_network_policies_match_the_readme(rendered: tuple[str, list[Doc], dict[str, Any]]) -> None:
    name, docs, values = rendered
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    pods = _pods(docs)
    keda_on = bool(values.get("keda", {}).get("enabled"))
    restricted_gateway = bool(values.get("networkPolicy", {}).get("gatewayFrom"))
    outsiders = [
        Pod("other-namespace", {"app": "curl"}, "default"),
        Pod("same-namespace-other-app", {"app": "curl"}, NAMESPACE),
        Pod("other-release", {"app.kubernetes.io/name": "taskonomy", "app.kubernetes.io/instance": "other"},
            NAMESPACE),
    ]
    keda = Pod("keda-operator", {"app": "keda-operator"}, values.get("keda", {}).get("namespace", "keda"))
    ingress_nginx = Pod("ingress-controller", {"app": "ingress-nginx"}, "ingress-nginx")
    assert {"gateway", "solver", "trainer", "transfer"} <= set(pods)
    members = list(pods.values())

    # only the gateway accepts traffic from outside the release
    gateway = pods["gateway"]
    for src in [*outsiders, ingress_nginx]:
        expect = src is ingress_nginx if restricted_gateway else True
        assert allowed(policies, src, gateway, "http") is expect, (name, src.name)
    assert allowed(policies, ingress_nginx, gateway, "http")
    for component, port in (("solver", "grpc"), ("redis", "redis"), ("trainer", "http"), ("transfer", "http")):
        if component not in pods:
            continue
        for src in [*outsiders, ingress_nginx]:
            assert not allowed(policies, src, pods[component], port), (name, src.name, component)
    # the solver and Redis accept the release's pods (Redis also the KEDA operator when KEDA is on)
    for src in members:
        assert allowed(policies, src, pods["solver"], "grpc"), (name, src.name)
        if "redis" in pods:
            assert allowed(policies, src, pods["redis"], "redis"), (name, src.name)
    if "redis" in pods:
        assert allowed(policies, keda, pods["redis"], "redis") is keda_on, name
        assert not allowed(policies, pods["gateway"], pods["redis"], "not-the-redis-port")
    # workers accept nothing, not even from the release's own pods
    for worker in ("trainer", "transfer"):
        for src in [*members, keda, *outsiders]:
            for port in ("http", "metrics", "redis", "grpc"):
                assert not allowed(policies, src, pods[worker], port), (name, src.name, worker, port)


def test_the_evaluator_is_not_vacuous() -> None:
    """Without policies everything is allowed, and an empty Ingress policy denies everything."""
    dst = Pod("x", {"app.kubernetes.io/component": "x"}, NAMESPACE, {"http": 80})
    src = Pod("y", {}, "default")
    assert allowed([], src, dst, "http")
    deny = {"metadata": {"namespace": NAMESPACE}, "spec": {"podSelector": {"matchLabels": {}},
                                                           "policyTypes": ["Ingress"]}}
    assert not allowed([deny], src, dst, "http")
    allow_80 = {"metadata": {}, "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]}}
    assert allowed([deny, allow_80], src, dst, "http") and not allowed([deny, allow_80], src, dst, "grpc")
