"""docker-compose.yml: valid for docker-compose (``config -q``), required secrets refused when
missing, and the one-host topology it promises (AOF Redis, health-gated start order, the shared
artifact volume, GPU workers and monitoring behind profiles, the provisioned dashboard)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKER_COMPOSE = shutil.which("docker-compose")
TOKEN = "compose-test-token-0123456789"
TASKONOMY_SERVICES = ("solver", "gateway", "trainer", "transfer", "trainer-gpu", "transfer-gpu")

needs_docker_compose = pytest.mark.skipif(
    DOCKER_COMPOSE is None,
    reason="docker-compose is not installed (scripts/setup.sh installs Debian's docker-compose with apt)",
)


def _compose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert DOCKER_COMPOSE is not None
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TASKONOMY_", "DOCKER_", "COMPOSE_"))}
    return subprocess.run(
        [DOCKER_COMPOSE, "-f", str(COMPOSE), *args],
        env={**clean, **(env or {})}, capture_output=True, text=True, timeout=60, check=False,
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))  # merges the x- anchors
    return loaded


@needs_docker_compose
@pytest.mark.parametrize("profiles", [(), ("gpu", "monitoring")])
def test_docker_compose_config_is_valid(profiles: tuple[str, ...]) -> None:
    flags = [arg for profile in profiles for arg in ("--profile", profile)]
    result = _compose(*flags, "config", "-q", env={"TASKONOMY_API_TOKENS": TOKEN})
    assert result.returncode == 0, result.stderr


@needs_docker_compose
def test_docker_compose_resolves_profiles_and_secrets() -> None:
    result = _compose("--profile", "gpu", "--profile", "monitoring", "config", env={"TASKONOMY_API_TOKENS": TOKEN})
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert set(resolved["services"]) == {*TASKONOMY_SERVICES, "redis", "prometheus", "grafana"}
    assert resolved["services"]["gateway"]["environment"]["TASKONOMY_API_TOKENS"] == TOKEN
    assert resolved["services"]["trainer"]["environment"]["TASKONOMY_BROKER_URL"] == "redis://redis:6379/0"


@needs_docker_compose
def test_missing_api_tokens_are_refused_with_a_message() -> None:
    result = _compose("config", "-q")
    assert result.returncode != 0
    assert "set TASKONOMY_API_TOKENS to one or more comma-separated bearer tokens" in result.stderr


def test_redis_keeps_queued_jobs_with_aof(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert any(volume.endswith(":/data") for volume in redis["volumes"])
    assert redis["healthcheck"]["test"][-1] == "ping"


def test_every_service_has_a_healthcheck_and_waits_for_healthy_dependencies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        assert "test" in service.get("healthcheck", {}), f"{name} has no healthcheck"
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services
            assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"
    assert set(services["gateway"]["depends_on"]) == {"redis", "solver"}
    for worker in ("trainer", "transfer", "trainer-gpu", "transfer-gpu"):
        assert set(services[worker]["depends_on"]) == {"redis"}


def test_taskonomy_services_share_the_artifact_volume_read_only_root(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "artifacts" in compose["volumes"]
    for name in ("gateway", "trainer", "transfer", "trainer-gpu", "transfer-gpu"):
        assert "artifacts:/data" in services[name]["volumes"], name
        store = services[name]["environment"]["TASKONOMY_STORE_URL"]
        assert store == "file:///data/artifacts", name
    for name in TASKONOMY_SERVICES:
        assert services[name]["read_only"] is True and "/tmp" in services[name]["tmpfs"], name


def test_gpu_workers_are_behind_the_gpu_profile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("trainer", "transfer"):
        assert "profiles" not in services[name] and "deploy" not in services[name]  # CPU by default
        gpu = services[f"{name}-gpu"]
        assert gpu["profiles"] == ["gpu"]
        assert gpu["image"] == services[name]["image"]
        assert gpu["command"][:2] == ["worker", name]
        devices = gpu["deploy"]["resources"]["reservations"]["devices"]
        assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
        assert gpu["environment"]["TASKONOMY_GPUS"] == "0"


def test_monitoring_profile_provisions_prometheus_and_the_dashboard(compose: dict[str, Any]) -> None:
    services = compose["services"]
    prometheus, grafana = services["prometheus"], services["grafana"]
    assert prometheus["profiles"] == ["monitoring"] and grafana["profiles"] == ["monitoring"]
    volumes = [*prometheus["volumes"], *grafana["volumes"]]
    mounts = {v.split(":")[1]: ROOT / v.split(":")[0] for v in volumes if v.startswith("./")}
    config = yaml.safe_load(mounts["/etc/prometheus/prometheus.yml"].read_text(encoding="utf-8"))
    targets = [t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    gateway_port = services["gateway"]["command"][services["gateway"]["command"].index("--port") + 1]
    assert f"gateway:{gateway_port}" in targets
    dashboards = mounts["/var/lib/grafana/dashboards"]
    assert (dashboards / "taskonomy.json").is_file()  # the same file the Helm chart ships
    provisioning = mounts["/etc/grafana/provisioning"]
    provider = yaml.safe_load((provisioning / "dashboards/taskonomy.yml").read_text(encoding="utf-8"))
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    datasource = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text(encoding="utf-8"))
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    assert datasource["datasources"][0]["type"] == "prometheus"
