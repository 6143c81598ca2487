"""The contract of scripts/images-e2e.sh, the CI step that builds the four images with podman and
runs one tiny experiment through them (it takes minutes, so the suite does not run it): CI calls it
after the suite; it builds each image from the Dockerfile and with the build arguments
docker-compose uses; its experiment is one the gateway admits; the lean service images' modules
import without what those images leave out; and its REST checks fail when they should.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "images-e2e.sh"


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rest = _load(ROOT / "scripts" / "images_e2e_rest.py")


def test_ci_runs_the_image_step_after_the_suite() -> None:
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    suite = next(i for i, line in enumerate(lines) if line.startswith("bash scripts/test.sh"))
    images = next(i for i, line in enumerate(lines) if line.startswith("bash scripts/images-e2e.sh"))
    assert suite < images


def test_the_script_is_valid_bash_and_fails_hard() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    text = SCRIPT.read_text(encoding="utf-8")
    assert "set -euo pipefail" in text
    assert "trap cleanup EXIT" in text
    assert 'echo "images-e2e: PASS"' in text and "images-e2e: FAIL" in text


def _calls(function: str) -> list[list[str]]:
    """The argument lists of every call of a shell function in the script (continuation lines joined)."""
    text = SCRIPT.read_text(encoding="utf-8").replace("\\\n", " ")
    return [shlex.split(line)[1:] for line in text.splitlines() if re.match(rf"\s*{function} ", line)]


def _build_args(argv: list[str]) -> dict[str, str]:
    return dict(argv[i + 1].split("=", 1) for i, arg in enumerate(argv) if arg == "--build-arg")


def test_each_image_is_built_from_its_dockerfile_with_composes_build_args() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
    built = {argv[0]: argv for argv in _calls("build_image")}
    assert sorted(built) == ["gateway", "solver", "trainer", "transfer"]
    for name, argv in built.items():
        build = compose[name]["build"]
        assert f"docker/{argv[1]}/Dockerfile" == build["dockerfile"], name
        args = _build_args(argv)
        # the stand-in bases replace the registry's, by the Dockerfile's own base-image argument
        base = args.pop("PYTHON_IMAGE" if argv[1] == "service" else "TORCH_IMAGE")
        assert base.startswith("$"), base
        assert args == {k: str(v) for k, v in build["args"].items()}, name


@pytest.mark.parametrize("name", ["service", "worker"])
def test_every_runtime_build_arg_reaches_a_run_before_an_env_uses_it(name: str) -> None:
    """buildah (podman build) keys an ENV layer without the ARG values it expands: a build with
    another value reuses it unless a RUN after the ARG (whose key has the values) came first. The
    transfer image once ran `worker trainer` that way."""
    from tests.deploy.test_images import _stages, parse_dockerfile

    runtime = _stages(parse_dockerfile(ROOT / "docker" / name / "Dockerfile"))[-1]
    pending: set[str] = set()
    for keyword, rest in runtime:
        if keyword == "ARG":
            pending.add(rest.partition("=")[0])
        elif keyword == "RUN":
            pending.clear()
        elif keyword == "ENV":
            used = {arg for arg in pending if re.search(rf"\$\{{?{arg}\b", rest)}
            assert not used, f"docker/{name}/Dockerfile: ENV expands {sorted(used)} with no RUN since the ARG"


def test_the_stand_in_containerfiles_exist() -> None:
    calls = _calls("build_stand_in")
    assert len(calls) == 3
    for argv in calls:
        assert (ROOT / "docker" / "stand-ins" / argv[1]).is_file(), argv[1]


def test_the_experiment_is_the_tiny_one_and_the_gateway_admits_it() -> None:
    from services.gateway.admission import admit
    from tests.services.workers._harness import tiny_spec

    assert rest.TINY == tiny_spec("images-e2e")
    spec = admit(json.loads(json.dumps(rest.TINY)), max_split_images=1_000, dataset_roots=[])
    assert [task.name for task in spec.tasks] == ["autoencoding", "depth_zbuffer"]


_BLOCKER = """
import importlib, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError("not in this image: " + name)
sys.meta_path.insert(0, Block())
importlib.import_module({module!r})
from taskonomy.cli import main
sys.argv = ["taskonomy", "serve", {service!r}, "--help"]
main()
"""


@pytest.mark.parametrize(("service", "module", "blocked"), [
    ("solver", "services.solver.server", ["torch", "numba", "llvmlite", "kubernetes"]),
    ("gateway", "services.gateway.app", ["torch", "numba", "llvmlite"]),
])
def test_the_service_modules_import_without_what_their_image_leaves_out(service: str, module: str,
                                                                        blocked: list[str]) -> None:
    dockerfile = (ROOT / "docker" / "service" / "Dockerfile").read_text(encoding="utf-8")
    assert "--extra services --exclude torch --exclude numba --exclude kubernetes" in dockerfile
    assert 'if [ "$SERVICE" != solver ]; then' in dockerfile
    assert "--extra services --exclude torch --exclude numba > /tmp/requirements.txt" in dockerfile
    code = _BLOCKER.format(blocked=set(blocked), module=module, service=service)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Usage" in done.stdout


def test_only_the_gateway_uses_the_kubernetes_client() -> None:
    """The solver image leaves the Kubernetes client out: no module but the gateway's may import it."""
    users = sorted(str(path.relative_to(ROOT)) for package in ("taskonomy", "services")
                   for path in (ROOT / package).rglob("*.py")
                   if re.search(r"^\s*(import|from) kubernetes\b", path.read_text(encoding="utf-8"), re.M))
    assert users and all(user.startswith("services/gateway/") for user in users), users


# --- the REST checks, against a stand-in gateway ----------------------------------------------------

Handler = Callable[[str, str, Any], tuple[int, Any]]


@pytest.fixture
def fake_gateway() -> Iterator[Callable[[Handler], str]]:
    servers: list[ThreadingHTTPServer] = []

    def start(handle: Handler) -> str:
        class Answer(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                status, payload = handle(self.command, self.path, body)
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = _reply

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _gateway(final: str, *, taxonomy: tuple[int, Any], rows: list[str] | None = None) -> Handler:
    polls = {"n": 0}
    stages = {"train": {"done": 2, "total": 2}, "transfer": {"done": 2, "total": 2}}

    def handle(method: str, path: str, body: Any) -> tuple[int, Any]:
        if path == "/readyz":
            return 200, {"status": "ok"}
        if method == "POST" and path == "/v1/experiments":
            assert body == rest.TINY
            return 202, {"id": "exp1", "state": "QUEUED"}
        if path == "/v1/experiments/exp1":
            polls["n"] += 1
            return 200, {"state": "RUNNING" if polls["n"] < 2 else final, "stages": stages}
        if path == "/v1/experiments/exp1/transfers":
            return 200, {"rows": [{"target": t} for t in (rows or rest.TINY["tasks"])]}
        if path == "/v1/taxonomy":
            return taxonomy
        return 404, {"detail": path}

    return handle


OPTIMAL = (200, {"status": "OPTIMAL", "roots": ["autoencoding"], "edges": [], "objective": 1.0})


def test_rest_check_passes_a_good_run(fake_gateway: Any, capsys: Any) -> None:
    base = fake_gateway(_gateway("SUCCEEDED", taxonomy=OPTIMAL))
    assert rest.main([base, "--token", "t" * 20, "--timeout", "30"]) == 0
    assert "EXPERIMENT=exp1" in capsys.readouterr().out


@pytest.mark.parametrize(("final", "taxonomy", "rows", "why"), [
    ("FAILED", OPTIMAL, None, "ended FAILED"),
    ("SUCCEEDED", (502, {"detail": "solver unavailable"}), None, "POST /v1/taxonomy answered 502"),
    ("SUCCEEDED", (200, {"status": "INFEASIBLE", "roots": []}), None, "POST /v1/taxonomy answered 200"),
    ("SUCCEEDED", OPTIMAL, ["autoencoding"], "transfer table's targets"),
])
def test_rest_check_fails_a_bad_run(fake_gateway: Any, capsys: Any, final: str, taxonomy: Any,
                                    rows: list[str] | None, why: str) -> None:
    base = fake_gateway(_gateway(final, taxonomy=taxonomy, rows=rows))
    assert rest.main([base, "--token", "t" * 20, "--timeout", "30"]) == 1
    assert why in capsys.readouterr().err


def test_solver_down_check_needs_a_failing_answer(fake_gateway: Any) -> None:
    assert rest.main([fake_gateway(_gateway("SUCCEEDED", taxonomy=(503, {}))), "--solver-down", "exp1"]) == 0
    assert rest.main([fake_gateway(_gateway("SUCCEEDED", taxonomy=OPTIMAL)), "--solver-down", "exp1"]) == 1
