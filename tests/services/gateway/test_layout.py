"""The gateway imports the experiment contract, never what runs experiments (issue 24.2).

Its image leaves out torch and numba (docker/service/Dockerfile): importing the app, building it,
and answering the requests that validate, key and list experiments must load neither, nor the
world, the data loaders or the job handlers. Checked in a fresh interpreter in which importing
them raises, the way they are missing from the image.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

_PROBE = """
import importlib, sys
BLOCKED = {"torch", "numba", "llvmlite"}
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError("not in the gateway image: " + name)
sys.meta_path.insert(0, Block())
from fastapi.testclient import TestClient
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings

app = create_app(GatewaySettings(broker_url="redis://127.0.0.1:1/0", solver_address="127.0.0.1:1"))
client = TestClient(app)
assert client.get("/openapi.json").status_code == 200
assert client.get("/v1/tasks").status_code == 200
assert client.get("/").status_code == 200
spec = {"tasks": ["normal", "depth_zbuffer"], "splits": {"train": 8, "transfer": 4, "test": 4},
        "affinity": {"estimate": "bogus"}}
bad = client.post("/v1/experiments", json=spec, headers={"Authorization": "Bearer t"})
assert bad.status_code in (401, 403, 422), bad.status_code
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED
                or m.startswith(("taskonomy.world", "taskonomy.data", "taskonomy.execution", "taskonomy.training")))
print("loaded:", loaded)
assert not loaded, loaded
"""


def test_the_gateway_serves_without_torch_numba_or_the_execution_code() -> None:
    done = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


def test_the_solver_loads_no_torch_numba_or_execution_code() -> None:
    code = ("import sys; import services.solver.server; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'numba') "
            "or m.startswith(('taskonomy.world', 'taskonomy.data', 'taskonomy.execution'))]; "
            "assert not bad, bad")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
