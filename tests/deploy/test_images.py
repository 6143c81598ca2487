"""The container images: two Dockerfiles (docker/service for the gateway and the solver, docker/worker
for the trainer and transfer workers) parametrised by build arguments; their structure (multi-stage,
non-root, torch only in the workers), the build context, and every command the images (for each
build docker-compose makes), docker-compose and the chart run, checked against the real CLI
(``taskonomy``), the entry point, the health-check script and the Celery app modules.

There is no Docker engine here: the Dockerfiles are parsed, not built.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import typer
import typer.core
import typer.main
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("gateway", "solver", "trainer", "transfer")
#: The two Dockerfiles, and which one builds each component.
DOCKERFILES = ("service", "worker")
DOCKERFILE_OF = {"gateway": "service", "solver": "service", "trainer": "worker", "transfer": "worker"}


def _load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docker_{name}", ROOT / "docker" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


healthcheck = _load_script("healthcheck")
requirements = _load_script("requirements")


# --- Dockerfiles -------------------------------------------------------------------------------


def parse_dockerfile(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    assert not pending, f"{path}: dangling line continuation"
    return instructions


def _stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in instructions:
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _arg_defaults(instructions: list[tuple[str, str]]) -> dict[str, str]:
    return dict(rest.split("=", 1) for keyword, rest in instructions if keyword == "ARG" and "=" in rest)


def _exec_form(value: str) -> list[str]:
    parsed = json.loads(value)
    assert isinstance(parsed, list) and all(isinstance(item, str) for item in parsed), value
    return parsed


@pytest.fixture(scope="module")
def dockerfiles() -> dict[str, list[tuple[str, str]]]:
    return {name: parse_dockerfile(ROOT / "docker" / name / "Dockerfile") for name in DOCKERFILES}


def test_there_are_two_dockerfiles() -> None:
    assert sorted(p.parent.name for p in (ROOT / "docker").glob("*/Dockerfile")) == sorted(DOCKERFILES)


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_is_multi_stage_and_runs_as_non_root(name: str, dockerfiles: dict[str, Any]) -> None:
    instructions = dockerfiles[name]
    stages = _stages(instructions)
    assert len(stages) >= 2, "build and runtime stages"
    runtime = stages[-1]
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users == ["10001:10001"], "the runtime stage must switch to the non-root uid the chart expects"
    assert any(keyword == "COPY" and rest.startswith("--from=build ") for keyword, rest in runtime)
    assert not any(keyword == "COPY" and rest.split()[0] in {".", "./"} for keyword, rest in instructions), (
        "copy only what the image needs"
    )
    entrypoint = [_exec_form(rest) for keyword, rest in runtime if keyword == "ENTRYPOINT"]
    assert entrypoint == [["taskonomy-entrypoint"]]
    assert not [rest for keyword, rest in runtime if keyword == "CMD"], "the default command comes from the build"
    # the installs never resolve torch themselves: pins come from pyproject minus torch, then --no-deps
    runs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert "requirements.py pyproject.toml --extra services --exclude torch" in runs
    assert "pip install --no-deps ." in runs


def test_the_service_image_is_slim_and_torch_free(dockerfiles: dict[str, Any]) -> None:
    instructions = dockerfiles["service"]
    base = _arg_defaults(instructions)["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", base), base
    froms = [rest.split()[0] for keyword, rest in instructions if keyword == "FROM"]
    assert froms == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    assert "torch" not in " ".join(rest for keyword, rest in instructions if keyword == "RUN").replace(
        "--exclude torch", ""
    )


def test_the_worker_image_uses_a_cuda_pytorch_base_matching_the_pin(dockerfiles: dict[str, Any]) -> None:
    base = _arg_defaults(dockerfiles["worker"])["TORCH_IMAGE"]
    match = re.fullmatch(r"pytorch/pytorch:(\d+\.\d+\.\d+)-cuda[\d.]+-cudnn\d+-runtime", base)
    assert match, base
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    pinned = re.search(r'"torch==([\d.]+)"', pyproject)
    assert pinned and pinned.group(1) == match.group(1), "the base image's torch must be the version pyproject pins"


def test_requirements_exclude_torch_and_keep_every_other_pin() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    listed = requirements.requirements(ROOT / "pyproject.toml", extras=["services"], exclude=["torch"])
    names = {requirements.distribution_name(r) for r in listed}
    assert "torch" not in names and "taskonomy" not in names
    expected = [r for r in [*project["dependencies"], *project["optional-dependencies"]["services"]]
                if requirements.distribution_name(r) != "torch"]
    assert listed == list(dict.fromkeys(expected))
    assert {"fastapi", "grpcio", "celery", "ortools", "s3fs"} <= names
    with pytest.raises(ValueError, match="unknown extra"):
        requirements.requirements(ROOT / "pyproject.toml", extras=["nope"], exclude=[])
    assert requirements.distribution_name("Celery[redis]==5.7.0") == "celery"
    assert requirements.distribution_name("prometheus_client>=0.26") == "prometheus-client"


def test_build_context_keeps_out_everything_but_the_sources(dockerfiles: dict[str, Any]) -> None:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")]
    assert patterns[0] == "**", "exclude everything, then re-include the sources"
    included = [p[1:].rstrip("/") for p in patterns if p.startswith("!")]

    def in_context(path: str) -> bool:
        return any(path == inc or path.startswith(f"{inc}/") for inc in included)

    for path in (".venv", ".git", "runs", "tests", "taskonomy.egg-info", "deploy"):
        assert not in_context(path), path
    for service, instructions in dockerfiles.items():
        for keyword, rest in instructions:
            if keyword != "COPY" or rest.startswith("--from="):
                continue
            sources = [s for s in rest.split()[:-1] if not s.startswith("--")]
            for source in sources:
                assert in_context(source), f"{service}: COPY {source} is excluded by .dockerignore"
                assert (ROOT / source).exists(), f"{service}: COPY {source} does not exist"


# --- every command the deployment runs -----------------------------------------------------------


@pytest.fixture(scope="module")
def cli() -> Any:
    from taskonomy.cli import build_app

    return typer.main.get_command(build_app())


def check_cli(cli: Any, argv: list[str]) -> None:
    """Fail unless ``argv`` is a valid `taskonomy` invocation (command path, options and values)."""
    assert argv[0] == "taskonomy", argv
    assert isinstance(cli, typer.core.TyperGroup)
    command: Any = cli
    args, path = list(argv[1:]), ["taskonomy"]
    while isinstance(command, typer.core.TyperGroup):
        assert args and not args[0].startswith("-"), f"{shlex.join(argv)}: no subcommand after {' '.join(path)}"
        ctx = typer.Context(command, info_name=" ".join(path))
        sub = command.get_command(ctx, args[0])
        assert sub is not None, (
            f"{shlex.join(argv)}: `{' '.join(path)}` has no command {args[0]!r}; "
            f"it has {command.list_commands(ctx)}"
        )
        path.append(args.pop(0))
        command = sub
    assert isinstance(command, typer.core.TyperCommand), f"{shlex.join(argv)}: {' '.join(path)} is not a command"
    try:
        command.make_context(" ".join(path), args)
    except typer.TyperException as error:  # click's usage errors, as vendored by typer
        pytest.fail(f"{shlex.join(argv)}: {error.format_message()}")


def check_healthcheck(argv: list[str]) -> Any:
    assert argv[0] == "taskonomy-healthcheck", argv
    try:
        return healthcheck.build_parser().parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"{shlex.join(argv)} is not a valid taskonomy-healthcheck call")


def check_celery_probe(command: str) -> None:
    match = re.search(r"\bcelery -A (\S+) (?:--no-color )?inspect ping\b", command)
    assert match, command
    assert importlib.util.find_spec(match.group(1)) is not None, f"Celery app module {match.group(1)} does not exist"


def _port(argv: list[str]) -> str:
    return argv[argv.index("--port") + 1]


def _build_args(service: str) -> dict[str, str]:
    """The build arguments docker-compose builds ``service``'s image with."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    build = compose["services"][service]["build"]
    assert build["dockerfile"] == f"docker/{DOCKERFILE_OF[service]}/Dockerfile"
    return {k: str(v) for k, v in build.get("args", {}).items()}


def _runtime_env(runtime: list[tuple[str, str]], args: dict[str, str]) -> dict[str, str]:
    """The runtime stage's ARGs (defaults, then the build arguments) and ENVs, ``${...}`` expanded."""
    values: dict[str, str] = {}
    for keyword, rest in runtime:
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            values[name] = args.get(name, default)
        elif keyword == "ENV":
            for token in shlex.split(rest):
                name, _, value = token.partition("=")
                values[name] = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values.get(m.group(1) or m.group(2), ""),
                                      value)
    return values


@pytest.mark.parametrize("service", SERVICES)
def test_image_default_command_is_a_real_cli_command(
    service: str, dockerfiles: dict[str, Any], cli: Any
) -> None:
    runtime = _stages(dockerfiles[DOCKERFILE_OF[service]])[-1]
    env = _runtime_env(runtime, _build_args(service))
    argv = ["taskonomy", *env["TASKONOMY_DEFAULT_ARGS"].split()]
    check_cli(cli, argv)
    assert argv[1:3] in (["serve", service], ["worker", service])
    for keyword, rest in runtime:
        if keyword == "HEALTHCHECK":
            probe = _exec_form(rest.split(" CMD ", 1)[1])
            assert check_healthcheck(probe).kind == "auto"
            kind, target = healthcheck.auto_target(env)
            assert kind == {"gateway": "http", "solver": "grpc"}[service]
            assert f"127.0.0.1:{_port(argv)}" in target
        if keyword == "EXPOSE":
            assert re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], rest) == _port(argv)


def test_the_entrypoint_runs_the_cli_with_the_built_default_or_the_given_arguments(tmp_path: Path) -> None:
    """docker/entrypoint.sh with the real CLI on PATH: no arguments run TASKONOMY_DEFAULT_ARGS."""
    import os

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "TASKONOMY_DEFAULT_ARGS": "solve paper-base --budget 2 --json"}
    script = str(ROOT / "docker" / "entrypoint.sh")
    default = subprocess.run(["sh", script], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert default.returncode == 0, default.stderr
    assert json.loads(default.stdout)["budget"] == 2
    given = subprocess.run(["sh", script, "solve", "paper-base", "--budget", "3", "--json"], env=env,
                           capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert given.returncode == 0 and json.loads(given.stdout)["budget"] == 3
    env.pop("TASKONOMY_DEFAULT_ARGS")
    missing = subprocess.run(["sh", script], env=env, capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert missing.returncode != 0 and "TASKONOMY_DEFAULT_ARGS is not set" in missing.stderr


def _compose_default(value: str) -> str:
    """Resolve ``${VAR:-default}`` the way docker-compose does with VAR unset."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def test_compose_commands_and_healthchecks_are_real(cli: Any) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    checked = set()
    for name, service in compose["services"].items():
        image = service.get("image", "")
        if not image.startswith("taskonomy/"):
            continue
        argv = ["taskonomy", *(_compose_default(arg) for arg in service["command"])]
        check_cli(cli, argv)
        test = service["healthcheck"]["test"]
        if test[0] == "CMD":
            args = check_healthcheck(test[1:])
            target = args.url if args.kind == "http" else args.address
            assert f"127.0.0.1:{_port(argv)}" in target, name
        else:
            assert test[0] == "CMD-SHELL"
            check_celery_probe(test[1])
            assert '@$$HOSTNAME: OK"' in test[1]  # compose's escape for the container's $HOSTNAME
        checked.add(name)
    assert checked == {"solver", "gateway", "trainer", "transfer", "trainer-gpu", "transfer-gpu"}


def _chart_containers() -> Iterator[tuple[str, dict[str, Any]]]:
    import helm_python as helm

    values = yaml.safe_load((ROOT / "deploy/helm/taskonomy/ci/s3-keda-values.yaml").read_text(encoding="utf-8"))
    with helm.Chart.load(ROOT / "deploy/helm/taskonomy") as chart:
        for variant in (None, values):
            for path, text in chart.render(values=variant, name="demo").items():
                if path.endswith("NOTES.txt"):
                    continue
                for doc in yaml.safe_load_all(text):
                    if doc and doc["kind"] in ("Deployment", "StatefulSet"):
                        for container in doc["spec"]["template"]["spec"]["containers"]:
                            yield doc["kind"], container


def test_chart_container_commands_and_probes_are_real(cli: Any) -> None:
    pytest.importorskip("helm_python")
    seen = set()
    for _, container in _chart_containers():
        service = container["image"].rsplit("/", 1)[1].split(":")[0]
        if service not in SERVICES:
            continue
        assert "command" not in container, "the image's ENTRYPOINT (taskonomy) is kept"
        argv = ["taskonomy", *container["args"]]
        check_cli(cli, argv)
        assert argv[1:3] in (["serve", service], ["worker", service])
        liveness = container.get("livenessProbe", {})
        if "exec" in liveness:
            check_celery_probe(liveness["exec"]["command"][2])
        if "grpc" in liveness:
            assert str(liveness["grpc"]["port"]) == _port(argv)
        seen.add(service)
    assert seen == set(SERVICES)


# --- the health-check script against real servers ------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_response({"/healthz": 200, "/readyz": 503}.get(self.path, 404))
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.integration
def test_healthcheck_http_against_a_real_server() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        assert healthcheck.main(["http", f"{base}/healthz"]) == 0
        assert healthcheck.main(["http", f"{base}/readyz"]) == 1
        assert healthcheck.main(["http", f"{base}/missing"]) == 1
    finally:
        server.shutdown()
        server.server_close()
    assert healthcheck.main(["--timeout", "0.5", "http", f"http://127.0.0.1:{_free_port()}/healthz"]) == 1
    assert healthcheck.main(["http", "ftp://127.0.0.1/x"]) == 2


@pytest.mark.integration
def test_healthcheck_grpc_against_a_real_server() -> None:
    from concurrent import futures

    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        assert healthcheck.main(["grpc", f"127.0.0.1:{port}"]) == 0
        servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        assert healthcheck.main(["grpc", f"127.0.0.1:{port}"]) == 1
        assert healthcheck.main(["grpc", f"127.0.0.1:{port}", "--service", "unknown.Service"]) == 1
    finally:
        server.stop(None)
    assert healthcheck.main(["--timeout", "0.5", "grpc", f"127.0.0.1:{port}"]) == 1


# --- the workers' liveness probe against a real worker -------------------------------------------


def _chart_probe(component: str) -> str:
    for _, container in _chart_containers():
        if container["image"].rsplit("/", 1)[1].split(":")[0] == component and "livenessProbe" in container:
            command: list[str] = container["livenessProbe"]["exec"]["command"]
            assert command[:2] == ["sh", "-c"]
            return command[2]
    raise AssertionError(f"no {component} liveness probe rendered")


@pytest.mark.slow
@pytest.mark.integration
def test_worker_liveness_probe_pings_this_pods_worker(redis_server: Any, tmp_path: Path) -> None:
    pytest.importorskip("helm_python")
    probe = _chart_probe("trainer")
    # A broadcast ping waits out its whole timeout: shorten it (only it) to keep the test quick.
    assert " --timeout 10 " in probe
    probe = probe.replace(" --timeout 10 ", " --timeout 2 ")
    broker = redis_server.url.rsplit("/", 1)[0] + "/13"  # a database of its own: no other test's workers
    bin_dir = str(Path(sys.executable).parent)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "TASKONOMY_BROKER_URL": broker,
           "TASKONOMY_STORE_URL": (tmp_path / "artifacts").as_uri()}
    worker = subprocess.Popen([f"{bin_dir}/taskonomy", "worker", "trainer", "--concurrency", "1"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        this_pod = {**env, "HOSTNAME": socket.gethostname()}
        deadline = time.monotonic() + 60
        while True:
            result = subprocess.run(["sh", "-c", probe], env=this_pod, capture_output=True, timeout=60, check=False)
            if result.returncode == 0:
                break
            assert worker.poll() is None, f"the worker exited: {worker.stderr.read() if worker.stderr else ''!r}"
            assert time.monotonic() < deadline, "the probe never saw the running worker"
        other_pod = {**env, "HOSTNAME": "some-other-pod"}
        assert subprocess.run(["sh", "-c", probe], env=other_pod, timeout=60, check=False).returncode != 0
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
