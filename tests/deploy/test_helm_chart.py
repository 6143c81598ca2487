"""The Helm chart, offline: lint (strict), render with the default and a non-default values file,
validate every manifest against Kubernetes 1.30's schemas (strict: unknown fields fail), and check
what the manifests promise (probes, security, autoscaling, network isolation, RBAC, GPUs).

CRDs (KEDA's ScaledObject/TriggerAuthentication, the Prometheus Operator's ServiceMonitor) have no
bundled schema: they are checked field by field here instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.queue.queues import scaling_lists

helm = pytest.importorskip("helm_python")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy/helm/taskonomy"
CI_VALUES = CHART / "ci/s3-keda-values.yaml"
KUBE_VERSION = "1.30.0"
CRD_GROUPS = ("keda.sh", "monitoring.coreos.com")
RELEASE, NAMESPACE = "demo", "ml"
Doc = dict[str, Any]


def _values(name: str) -> dict[str, Any] | None:
    if name == "default":
        return None
    loaded: dict[str, Any] = yaml.safe_load(CI_VALUES.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def chart() -> Iterator[Any]:
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def _render(chart: Any, values: dict[str, Any] | None) -> list[Doc]:
    rendered = chart.render(values=values, name=RELEASE, namespace=NAMESPACE)
    docs: list[Doc] = []
    for path, text in rendered.items():
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


@pytest.fixture(scope="module", params=["default", "ci"])
def variant(request: pytest.FixtureRequest, chart: Any) -> tuple[str, list[Doc]]:
    return request.param, _render(chart, _values(request.param))


@pytest.fixture(scope="module")
def default_docs(chart: Any) -> list[Doc]:
    return _render(chart, None)


@pytest.fixture(scope="module")
def ci_docs(chart: Any) -> list[Doc]:
    return _render(chart, _values("ci"))


def _kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def _component(docs: list[Doc], kind: str, component: str) -> Doc:
    name = f"{RELEASE}-taskonomy-{component}"
    found = _kind(docs, kind)
    assert name in found, f"no {kind} {name}; have {sorted(found)}"
    return found[name]


def _container(deployment: Doc) -> Doc:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: Doc = containers[0]
    return container


def _env(container: Doc) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container.get("env", [])}


# --- lint, schema, Kubernetes validation -------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "ci"])
def test_lint_strict(name: str) -> None:
    report = helm.lint(CHART, _values(name), strict=True, kube_version=f"v{KUBE_VERSION}")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and problems == [], report


def test_values_schema_accepts_both_values_files(chart: Any) -> None:
    assert chart.schema is not None
    chart.validate_schema(chart.values)
    chart.validate_schema(chart.merge_values(_values("ci")))


def test_every_manifest_is_valid_kubernetes_1_30(variant: tuple[str, list[Doc]]) -> None:
    name, docs = variant
    validated = 0
    for doc in docs:
        if doc["apiVersion"].split("/")[0] in CRD_GROUPS:
            continue
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"[{name}] {doc['kind']} {doc['metadata']['name']}: {error}")
        validated += 1
    assert validated >= 15


def test_strict_validation_is_not_vacuous(default_docs: list[Doc]) -> None:
    deployment = json.loads(json.dumps(_component(default_docs, "Deployment", "gateway")))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["grcp"] = {"port": 1}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSION, strict=True)


def test_names_and_labels_are_consistent(variant: tuple[str, list[Doc]]) -> None:
    _, docs = variant
    for doc in docs:
        meta = doc["metadata"]
        assert len(meta["name"]) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", meta["name"]), meta
        labels = meta["labels"]
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/name"] == "taskonomy"
    for workload in [*_kind(docs, "Deployment").values(), *_kind(docs, "StatefulSet").values()]:
        selector = workload["spec"]["selector"]["matchLabels"]
        pod_labels = workload["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= pod_labels.items()


# --- the components ----------------------------------------------------------------------------


def test_default_release_has_every_component(default_docs: list[Doc]) -> None:
    assert set(_kind(default_docs, "Deployment")) == {
        f"{RELEASE}-taskonomy-{c}" for c in ("gateway", "solver", "trainer", "transfer")
    }
    redis = _component(default_docs, "StatefulSet", "redis")
    args = " ".join(_container(redis)["args"])
    assert "--appendonly yes" in args
    claim = redis["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == "8Gi"
    pvc = _component(default_docs, "PersistentVolumeClaim", "artifacts")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    for component in ("gateway", "solver", "redis"):
        _component(default_docs, "Service", component)
    hpa = _component(default_docs, "HorizontalPodAutoscaler", "gateway")
    assert hpa["spec"]["scaleTargetRef"]["name"] == f"{RELEASE}-taskonomy-gateway"
    assert "replicas" not in _component(default_docs, "Deployment", "gateway")["spec"]
    assert set(_kind(default_docs, "PodDisruptionBudget")) == {
        f"{RELEASE}-taskonomy-{c}" for c in ("gateway", "solver", "trainer", "transfer")
    }
    assert not _kind(default_docs, "ScaledObject") and not _kind(default_docs, "ServiceMonitor")


def test_probes(variant: tuple[str, list[Doc]]) -> None:
    name, docs = variant
    gateway = _container(_component(docs, "Deployment", "gateway"))
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    solver = _container(_component(docs, "Deployment", "solver"))
    # in a pod the services listen on every interface (by hand they default to loopback)
    assert solver["args"] == ["serve", "solver", "--host", "0.0.0.0", "--port", "50051", "--processes", "1"]
    assert gateway["args"][:4] == ["serve", "gateway", "--host", "0.0.0.0"]
    assert solver["readinessProbe"]["grpc"]["port"] == solver["ports"][0]["containerPort"]
    assert solver["livenessProbe"]["grpc"]["port"] == solver["ports"][0]["containerPort"]
    trainer = _container(_component(docs, "Deployment", "trainer"))
    command = trainer["livenessProbe"]["exec"]["command"]
    assert command[:2] == ["sh", "-c"]
    assert command[2].startswith("celery -A services.trainer.app --no-color inspect ping --timeout 10 ")
    assert command[2].endswith('| grep -q "@${HOSTNAME}: OK"')  # this pod's worker answered
    transfer = _container(_component(docs, "Deployment", "transfer"))
    if name == "default":
        probe = transfer["livenessProbe"]["exec"]["command"][2]
        assert probe.startswith("celery -A services.transfer.app --no-color inspect ping")
    else:
        assert "livenessProbe" not in transfer  # workers.transfer.probe.enabled=false


def test_pods_run_non_root_with_read_only_root_filesystems(variant: tuple[str, list[Doc]]) -> None:
    _, docs = variant
    workloads = [*_kind(docs, "Deployment").values(), *_kind(docs, "StatefulSet").values()]
    assert workloads
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] > 0
        mounts_tmp = any(v["name"] == "tmp" and "emptyDir" in v for v in pod["volumes"])
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert mounts_tmp and any(m["mountPath"] == "/tmp" for m in container["volumeMounts"])


def test_default_storage_and_broker_settings(default_docs: list[Doc]) -> None:
    for component in ("gateway", "trainer", "transfer"):
        deployment = _component(default_docs, "Deployment", component)
        env = _env(_container(deployment))
        assert env["TASKONOMY_BROKER_URL"] == f"redis://{RELEASE}-taskonomy-redis:6379/0"
        assert env["TASKONOMY_STORE_URL"] == "file:///data/artifacts"
        claims = [v["persistentVolumeClaim"]["claimName"] for v in deployment["spec"]["template"]["spec"]["volumes"]
                  if "persistentVolumeClaim" in v]
        assert claims == [f"{RELEASE}-taskonomy-artifacts"]
    gateway = _container(_component(default_docs, "Deployment", "gateway"))
    env = _env(gateway)
    assert env["TASKONOMY_SOLVER_ADDRESS"] == f"{RELEASE}-taskonomy-solver:50051"
    assert env["TASKONOMY_API_TOKENS_FILE"] == "/etc/taskonomy/auth/tokens"
    assert env["TASKONOMY_KUBE_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    secret = _kind(default_docs, "Secret")[f"{RELEASE}-taskonomy-secrets"]
    assert re.fullmatch(r"[A-Za-z0-9]{40}", secret["stringData"]["api-tokens"])  # generated when none is given


def test_gpu_workers(variant: tuple[str, list[Doc]]) -> None:
    name, docs = variant
    trainer = _component(docs, "Deployment", "trainer")
    pod = trainer["spec"]["template"]["spec"]
    container = _container(trainer)
    assert container["args"][:2] == ["worker", "trainer"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert any(v.get("emptyDir", {}).get("medium") == "Memory" for v in pod["volumes"])  # /dev/shm
    if name == "default":
        assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert _env(container)["TASKONOMY_GPUS"] == "0"
        assert "nodeSelector" not in pod
    else:
        assert container["resources"]["limits"]["nvidia.com/gpu"] == 2
        assert _env(container)["TASKONOMY_GPUS"] == "0,1"
        assert container["args"] == ["worker", "trainer", "--concurrency", "2"]
        assert pod["nodeSelector"] == {
            "cloud.google.com/gke-nodepool": "gpu-a100",
            "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
        }
        assert {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"} in pod["tolerations"]
        transfer_pod = _component(docs, "Deployment", "transfer")["spec"]["template"]["spec"]
        assert transfer_pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-L4"}


def test_s3_external_redis_keda_and_service_monitor(ci_docs: list[Doc]) -> None:
    assert not _kind(ci_docs, "StatefulSet") and not _kind(ci_docs, "PersistentVolumeClaim")
    secrets = _kind(ci_docs, "Secret")
    s3 = secrets[f"{RELEASE}-taskonomy-s3"]["stringData"]
    assert s3 == {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example-secret-key"}
    chart_secret = secrets[f"{RELEASE}-taskonomy-secrets"]["stringData"]
    assert chart_secret["broker-url"] == "redis://:s3cr3t@redis.shared.svc:6379/2"
    assert chart_secret["api-tokens"] == "ci-token-0123456789abcdef\nci-token-fedcba9876543210"  # one per line
    for component in ("gateway", "trainer", "transfer"):
        env = _env(_container(_component(ci_docs, "Deployment", component)))
        assert env["TASKONOMY_STORE_URL"] == "s3://taskonomy-artifacts/prod/run-1"
        assert env["TASKONOMY_S3_ENDPOINT"] == "https://minio.storage.svc:9000"
        assert env["AWS_SECRET_ACCESS_KEY"] == {
            "secretKeyRef": {"name": f"{RELEASE}-taskonomy-s3", "key": "AWS_SECRET_ACCESS_KEY"}
        }
        assert env["TASKONOMY_BROKER_URL"] == {
            "secretKeyRef": {"name": f"{RELEASE}-taskonomy-secrets", "key": "broker-url"}
        }
    gateway_env = _env(_container(_component(ci_docs, "Deployment", "gateway")))
    assert gateway_env["TASKONOMY_READS_REQUIRE_TOKEN"] == "true"
    assert _component(ci_docs, "Deployment", "gateway")["spec"]["replicas"] == 3
    assert not _kind(ci_docs, "HorizontalPodAutoscaler")

    scaled = _kind(ci_docs, "ScaledObject")
    deployments = _kind(ci_docs, "Deployment")
    expected_lists = {"trainer": [*scaling_lists("train")],
                      "transfer": [*scaling_lists("transfer"), *scaling_lists("control")]}
    assert set(scaled) == {f"{RELEASE}-taskonomy-{c}" for c in expected_lists}
    auth = _kind(ci_docs, "TriggerAuthentication")[f"{RELEASE}-taskonomy-keda-redis"]
    assert auth["spec"]["secretTargetRef"] == [{"parameter": "password", "name": "shared-redis", "key": "password"}]
    for component, lists in expected_lists.items():
        spec = scaled[f"{RELEASE}-taskonomy-{component}"]["spec"]
        assert spec["scaleTargetRef"]["name"] in deployments
        assert "replicas" not in deployments[spec["scaleTargetRef"]["name"]]["spec"]  # KEDA owns the count
        assert spec["minReplicaCount"] <= spec["maxReplicaCount"]
        assert [t["metadata"]["listName"] for t in spec["triggers"]] == lists
        for trigger in spec["triggers"]:
            running = trigger["metadata"]["listName"].startswith("taskonomy:running:")
            # running jobs: one replica per `concurrency` of them (ci: trainer concurrency 2)
            concurrency = deployments[spec["scaleTargetRef"]["name"]]["spec"]["template"]["spec"]["containers"][0][
                "args"][3]
            assert trigger["metadata"]["listLength"] == (concurrency if running else trigger["metadata"]["listLength"])
            assert trigger["metadata"]["activationListLength"] == "0"
            assert trigger["type"] == "redis"
            assert trigger["metadata"]["address"] == "redis.shared.svc:6379"
            assert trigger["metadata"]["databaseIndex"] == "2"
            assert all(isinstance(v, str) for v in trigger["metadata"].values())  # KEDA wants strings
            assert trigger["authenticationRef"]["name"] == f"{RELEASE}-taskonomy-keda-redis"

    monitor = _component(ci_docs, "ServiceMonitor", "gateway")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]
    gateway_service = _component(ci_docs, "Service", "gateway")
    assert gateway_service["spec"]["type"] == "LoadBalancer"
    assert monitor["spec"]["selector"]["matchLabels"] == gateway_service["spec"]["selector"]


def test_internal_redis_password_reaches_broker_url_and_keda(chart: Any) -> None:
    docs = _render(chart, {"redis": {"auth": {"password": "pw-0123456789"}}, "keda": {"enabled": True}})
    env = _container(_component(docs, "Deployment", "trainer"))["env"]
    names = [item["name"] for item in env]
    # $(REDIS_PASSWORD) expands only when REDIS_PASSWORD is defined earlier in the list.
    assert names.index("REDIS_PASSWORD") < names.index("TASKONOMY_BROKER_URL")
    broker = next(item["value"] for item in env if item["name"] == "TASKONOMY_BROKER_URL")
    assert broker == f"redis://:$(REDIS_PASSWORD)@{RELEASE}-taskonomy-redis:6379/0"
    redis = _container(_component(docs, "StatefulSet", "redis"))
    assert '--requirepass "$REDIS_PASSWORD"' in " ".join(redis["args"])
    assert {"REDIS_PASSWORD", "REDISCLI_AUTH"} <= {item["name"] for item in redis["env"]}
    auth = _kind(docs, "TriggerAuthentication")[f"{RELEASE}-taskonomy-keda-redis"]
    assert auth["spec"]["secretTargetRef"][0]["name"] == f"{RELEASE}-taskonomy-secrets"
    trigger = _kind(docs, "ScaledObject")[f"{RELEASE}-taskonomy-trainer"]["spec"]["triggers"][0]
    assert trigger["metadata"]["address"] == f"{RELEASE}-taskonomy-redis:6379"
    policy = _component(docs, "NetworkPolicy", "redis")
    peers = policy["spec"]["ingress"][0]["from"]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}} in peers


# --- isolation and access ----------------------------------------------------------------------


def test_network_policies_expose_only_the_gateway(variant: tuple[str, list[Doc]]) -> None:
    name, docs = variant
    release_peer = {"podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "taskonomy", "app.kubernetes.io/instance": RELEASE}}}
    gateway = _component(docs, "NetworkPolicy", "gateway")["spec"]
    if name == "default":
        assert gateway["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]  # from anywhere
    else:
        assert gateway["ingress"][0]["from"] == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
        ]
    solver = _component(docs, "NetworkPolicy", "solver")["spec"]
    assert solver["ingress"] == [{"from": [release_peer], "ports": [{"port": "grpc", "protocol": "TCP"}]}]
    if name == "default":
        redis = _component(docs, "NetworkPolicy", "redis")["spec"]
        assert redis["ingress"] == [{"from": [release_peer], "ports": [{"port": "redis", "protocol": "TCP"}]}]
    for worker in ("trainer", "transfer"):
        spec = _component(docs, "NetworkPolicy", worker)["spec"]
        assert spec["policyTypes"] == ["Ingress"] and "ingress" not in spec  # deny all ingress
    # every pod of the release is selected by some policy
    selected = {p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                for p in _kind(docs, "NetworkPolicy").values()}
    pods = {w["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
            for w in [*_kind(docs, "Deployment").values(), *_kind(docs, "StatefulSet").values()]}
    assert pods <= selected


def test_gateway_rbac_is_read_only_and_namespaced(default_docs: list[Doc], ci_docs: list[Doc]) -> None:
    assert not _kind(default_docs, "ClusterRole") and not _kind(default_docs, "ClusterRoleBinding")
    role = _kind(default_docs, "Role")[f"{RELEASE}-taskonomy-gateway-cluster-view"]
    granted = {
        (group, resource) for rule in role["rules"] for group in rule["apiGroups"] for resource in rule["resources"]
    }
    assert {("apps", "deployments"), ("", "pods")} <= granted
    for rule in role["rules"]:
        assert set(rule["verbs"]) <= {"get", "list", "watch"}
        assert "secrets" not in rule["resources"]
    binding = _kind(default_docs, "RoleBinding")[f"{RELEASE}-taskonomy-gateway-cluster-view"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": f"{RELEASE}-taskonomy-gateway", "namespace": NAMESPACE}
    ]
    gateway_pod = _component(default_docs, "Deployment", "gateway")["spec"]["template"]["spec"]
    assert gateway_pod["serviceAccountName"] == f"{RELEASE}-taskonomy-gateway"
    for component in ("solver", "trainer", "transfer"):
        pod = _component(default_docs, "Deployment", component)["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
    assert not _kind(ci_docs, "Role")  # gateway.clusterView.enabled=false


def test_dashboard_configmap_ships_the_dashboard_file(default_docs: list[Doc]) -> None:
    configmap = _component(default_docs, "ConfigMap", "dashboard")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads(configmap["data"]["taskonomy.json"])
    assert shipped == json.loads((CHART / "dashboards/taskonomy.json").read_text(encoding="utf-8"))


# --- invalid values fail with a message that says what to set ----------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"storage": {"type": "nfs"}}, "/storage/type': value must be one of 'pvc', 's3'"),
        ({"storage": {"type": "s3"}}, "storage.type=s3 needs storage.s3.bucket"),
        (
            {"storage": {"type": "s3", "s3": {"bucket": "b-1", "accessKeyId": "k"}}},
            "set both accessKeyId and secretAccessKey",
        ),
        ({"redis": {"enabled": False}}, "redis.enabled=false needs redis.external.url"),
        ({"redis": {"external": {"url": "redis://r:6379/0"}}}, "set redis.enabled=false to use an external Redis"),
        (
            {"redis": {"enabled": False, "external": {"url": "redis://r:6379/0"}}, "keda": {"enabled": True}},
            "keda.enabled with an external Redis needs keda.redis.address",
        ),
        (
            {"gateway": {"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}},
            "minReplicas (5) must not exceed maxReplicas (2)",
        ),
        (
            {"workers": {"trainer": {"keda": {"minReplicas": 9}}}},
            "workers.trainer.keda.minReplicas (9) must not exceed",
        ),
        (
            {"workers": {"transfer": {"terminationGracePeriodSeconds": 25}}},
            "workers.transfer.terminationGracePeriodSeconds (25) must exceed jobs.shutdownGraceSeconds (20)",
        ),
        ({"gateway": {"auth": {"tokens": ["short"]}}}, "/gateway/auth/tokens/0': minLength"),
        ({"workers": {"trainer": {"gpu": {"count": -1}}}}, "/workers/trainer/gpu/count': minimum"),
        ({"gatway": {}}, "additional properties 'gatway' not allowed"),
        ({"gateway": {"datasetRoots": ["relative/dir"]}}, "/gateway/datasetRoots/0': 'relative/dir' does not match"),
    ],
)
def test_invalid_values_fail_clearly(chart: Any, values: dict[str, Any], message: str) -> None:
    with pytest.raises((helm.HelmRenderError, helm.HelmValuesError)) as raised:
        chart.render(values=values, name=RELEASE, namespace=NAMESPACE)
    assert message in str(raised.value)


def test_template_fail_guards_storage_type_without_the_schema(chart: Any, tmp_path: Path) -> None:
    """The schema rejects a bad storage.type first; the template's own `fail` is the second line."""
    copy = Path(chart.save_dir(tmp_path))
    (copy / "values.schema.json").unlink()
    with helm.Chart.load(copy) as unchecked, pytest.raises(helm.HelmRenderError) as raised:
        unchecked.render(values={"storage": {"type": "nfs"}}, name=RELEASE)
    assert 'storage.type must be "pvc" (a ReadWriteMany volume) or "s3" (a bucket), got "nfs"' in str(raised.value)


# --- documentation -----------------------------------------------------------------------------


#: Values documented as a whole (Kubernetes objects passed through), not key by key.
OPAQUE_VALUES = frozenset({"resources", "podSecurityContext", "securityContext", "labels", "annotations",
                           "nodeSelector", "affinity", "commonLabels"})


def _leaf_keys(values: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in OPAQUE_VALUES:
            yield from _leaf_keys(value, f"{path}.")
        else:
            yield path


def test_chart_readme_documents_every_value(chart: Any) -> None:
    readme = (CHART / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([^`]+)` \|", readme, flags=re.MULTILINE))
    keys = set(_leaf_keys(chart.values))
    assert keys - documented == set(), "values missing from the chart README's table"
    assert documented - keys == set(), "the chart README documents values that do not exist"


def test_notes_render_the_access_instructions(chart: Any) -> None:
    notes = chart.render(name=RELEASE, namespace=NAMESPACE)["taskonomy/templates/NOTES.txt"]
    assert f"port-forward svc/{RELEASE}-taskonomy-gateway" in notes
    assert f"get secret {RELEASE}-taskonomy-secrets" in notes


def test_readme_deploy_example_renders_and_validates(chart: Any) -> None:
    """The values file the README's "Deploy on a GPU cluster" section shows is a working one."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Deploy on a GPU cluster", 1)[1].split("\n## ", 1)[0]
    assert "helm install taskonomy deploy/helm/taskonomy" in section
    block = re.search(r"```yaml\n(.*?)```", section, flags=re.DOTALL)
    assert block, "the section shows a values file"
    values = yaml.safe_load(block.group(1))
    docs = _render(chart, values)
    for doc in docs:
        if doc["apiVersion"].split("/")[0] not in CRD_GROUPS:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    trainer = _component(docs, "Deployment", "trainer")["spec"]["template"]["spec"]
    assert trainer["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    gateway = _component(docs, "Deployment", "gateway")["spec"]["template"]["spec"]
    tokens = next(v for v in gateway["volumes"] if v["name"] == "api-tokens")
    assert tokens["secret"] == {"secretName": "taskonomy-tokens", "items": [{"key": "tokens", "path": "tokens"}]}
    assert f"{RELEASE}-taskonomy-secrets" not in _kind(docs, "Secret")  # nothing left for the chart to store
    assert _kind(docs, "ScaledObject") and _kind(docs, "ServiceMonitor")


def _plain_env(container: Doc) -> dict[str, str]:
    """The container's literal env values; secret references get a stand-in of the right shape."""
    stand_ins = {"TASKONOMY_BROKER_URL": "redis://:pw@redis.example:6379/2", "REDIS_PASSWORD": "pw"}
    env = {}
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
        elif item["name"] in stand_ins:
            env[item["name"]] = stand_ins[item["name"]]
    return env


@pytest.mark.parametrize("component", ["trainer", "transfer"])
def test_worker_env_is_accepted_by_the_worker_settings(
    component: str, variant: tuple[str, list[Doc]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.queue.settings import load_worker_settings

    name, docs = variant
    deployment = _component(docs, "Deployment", component)
    for key, value in _plain_env(_container(deployment)).items():
        monkeypatch.setenv(key, value)
    settings = load_worker_settings()
    assert settings.soft_time_limit < settings.time_limit < settings.visibility_timeout
    assert settings.gpus == ((0, 1) if (name, component) == ("ci", "trainer") else (0,))
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    # a stopping worker hands its job back after shutdown_grace: a short grace period, not the job's hours
    assert settings.shutdown_grace + 10 < grace <= 120, grace


def test_gateway_env_is_accepted_by_the_gateway_settings(
    variant: tuple[str, list[Doc]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from services.gateway.settings import load_settings

    name, docs = variant
    env = _plain_env(_container(_component(docs, "Deployment", "gateway")))
    tokens = tmp_path / "tokens"  # stands in for the mounted Secret
    tokens.write_text("a-token-of-sixteen-or-more\n", encoding="utf-8")
    env["TASKONOMY_API_TOKENS_FILE"] = str(tokens)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    assert settings.solver_address == f"{RELEASE}-taskonomy-solver:50051"
    assert settings.reads_require_token is (name == "ci")
    assert settings.tokens() == (b"a-token-of-sixteen-or-more",)
    # the operator's door: folder datasets only under these roots, splits bounded
    assert settings.dataset_roots == (("/data/taskonomy", "/data/extra") if name == "ci" else ())
    assert settings.max_split_images == (50_000 if name == "ci" else 1_000_000)


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        ({"softTimeLimitSeconds": 600, "timeLimitSeconds": 600}, "jobs.softTimeLimitSeconds (600) must be below"),
        ({"visibilityTimeoutSeconds": 3600}, "jobs.visibilityTimeoutSeconds (3600) must exceed jobs.timeLimitSeconds"),
    ],
)
def test_job_time_limits_must_be_ordered(chart: Any, jobs: dict[str, int], message: str) -> None:
    with pytest.raises(helm.HelmRenderError) as raised:
        chart.render(values={"jobs": jobs}, name=RELEASE)
    assert message in str(raised.value)


@pytest.mark.integration
def test_gateway_probes_stay_up_while_the_solver_is_down(default_docs: list[Doc], redis_url: str,
                                                         tmp_path: Path) -> None:
    """The rendered probes' paths, asked of a real gateway whose solver is down: the pod stays in
    its Service (readiness and liveness 200) and the solver's outage shows on /v1/health only."""
    import httpx

    from services.gateway.app import create_app
    from services.gateway.server import BackgroundServer, free_port
    from tests.services.gateway._fixtures import make_settings

    gateway = _container(_component(default_docs, "Deployment", "gateway"))
    paths = {probe: gateway[probe]["httpGet"]["path"] for probe in ("startupProbe", "readinessProbe", "livenessProbe")}
    settings = make_settings(redis_url, f"127.0.0.1:{free_port()}", tmp_path, solver_timeout_s=2.0)
    with BackgroundServer(create_app(settings)) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
        answers = {probe: c.get(path).status_code for probe, path in paths.items()}
        health = c.get("/v1/health").json()
    assert answers == dict.fromkeys(paths, 200), answers
    assert health["dependencies"]["solver"]["up"] is False


def test_optional_ingress_with_tls(chart: Any, default_docs: list[Doc]) -> None:
    assert not _kind(default_docs, "Ingress")  # off by default
    values = {"gateway": {"ingress": {
        "enabled": True, "className": "nginx", "host": "taskonomy.example.org",
        "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"}, "tls": {"secretName": "taskonomy-tls"}}}}
    docs = _render(chart, values)
    ingress = _component(docs, "Ingress", "gateway")
    kubernetes_validate.validate(ingress, KUBE_VERSION, strict=True)
    spec = ingress["spec"]
    assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [{"hosts": ["taskonomy.example.org"], "secretName": "taskonomy-tls"}]
    (rule,) = spec["rules"]
    assert rule["host"] == "taskonomy.example.org"
    (path,) = rule["http"]["paths"]
    service = _component(docs, "Service", "gateway")
    assert path["backend"]["service"] == {"name": service["metadata"]["name"], "port": {"name": "http"}}
    assert path["backend"]["service"]["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    # no TLS secret, no class: plain HTTP on the cluster's default class
    plain = _component(_render(chart, {"gateway": {"ingress": {"enabled": True, "host": "t.example.org"}}}),
                       "Ingress", "gateway")
    kubernetes_validate.validate(plain, KUBE_VERSION, strict=True)
    assert "tls" not in plain["spec"] and "ingressClassName" not in plain["spec"]
    for bad, message in (({"enabled": True}, "gateway.ingress.enabled needs gateway.ingress.host"),
                         ({"host": "Not A Host"}, "/gateway/ingress/host"),
                         ({"tsl": {}}, "additional properties 'tsl' not allowed")):
        with pytest.raises((helm.HelmRenderError, helm.HelmValuesError)) as raised:
            chart.render(values={"gateway": {"ingress": bad}}, name=RELEASE, namespace=NAMESPACE)
        assert message in str(raised.value)
