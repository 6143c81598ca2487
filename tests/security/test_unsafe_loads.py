"""Nothing is unpickled anywhere: an AST scan of the code for unsafe loads, and the scanner shown
to fail on planted examples (so a pass means something)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.unsafe_loads import scan_source, scan_tree

ROOT = Path(__file__).resolve().parents[2]

PLANTED = [
    ("import pickle\npickle.loads(b'')\n", "unpickles"),
    ("import pickle as p\nwith open('f', 'rb') as f:\n    p.load(f)\n", "unpickles"),
    ("from pickle import loads\n", "imports pickle.loads"),
    ("import marshal\nmarshal.loads(b'')\n", "unpickles"),
    ("import shelve\nshelve.open('db')\n", "unpickles"),
    ("import joblib\njoblib.load('m.pkl')\n", "unpickles"),
    ("import pandas as pd\npd.read_pickle('x')\n", "unpickles"),
    ("import torch\ntorch.load('w.pt')\n", "weights_only"),
    ("import torch\ntorch.load('w.pt', weights_only=False)\n", "weights_only"),
    ("import torch\nflag = True\ntorch.load('w.pt', weights_only=flag)\n", "weights_only"),
    ("import numpy as np\nnp.load('a.npy', allow_pickle=True)\n", "allow_pickle"),
    ("import yaml\nyaml.load(open('c.yaml'))\n", "safe Loader"),
    ("import yaml\nyaml.load(open('c.yaml'), Loader=yaml.Loader)\n", "safe Loader"),
    ("import yaml\nyaml.unsafe_load('a: 1')\n", "arbitrary objects"),
    ("app.conf.update(accept_content=['json', 'pickle'])\n", "accept_content"),
    ("CONF = {'task_serializer': 'pickle'}\n", "task_serializer"),
    ("app.conf.accept_content = ['application/x-python-serialize']\n", "accept_content"),
]

SAFE = """\
import json, yaml, torch
import numpy as np
from safetensors.numpy import load_file
yaml.safe_load('a: 1')
yaml.load('a: 1', Loader=yaml.SafeLoader)
torch.load('w.pt', weights_only=True, map_location='cpu')
np.load('a.npy')
np.load('a.npy', allow_pickle=False)
json.loads('{}')
load_file('x.safetensors')
app.conf.update(task_serializer='json', accept_content=['json'], result_accept_content=['json'])
"""


@pytest.mark.parametrize(("source", "message"), PLANTED)
def test_the_scanner_finds_planted_unsafe_loads(source: str, message: str) -> None:
    findings = scan_source(source, "planted.py")
    assert findings and message in str(findings[0]), findings


def test_the_scanner_accepts_safe_loads() -> None:
    assert scan_source(SAFE, "safe.py") == []


def test_the_scanner_reads_files(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "ok.py").write_text(SAFE)
    (tmp_path / "pkg" / "bad.py").write_text("import torch\nstate = torch.load('w.pt')\n")
    findings = scan_tree(tmp_path)
    assert [(Path(f.path).name, f.line) for f in findings] == [("bad.py", 2)]


def test_no_unsafe_load_in_the_code() -> None:
    roots = [ROOT / d for d in ("taskonomy", "services", "benchmarks") if (ROOT / d).is_dir()]
    assert len(roots) >= 2
    findings = scan_tree(*roots)
    assert findings == [], "\n".join(map(str, findings))


def test_celery_apps_accept_json_only() -> None:
    """The configured apps themselves, not only their source: workers and the gateway's client."""
    from services.gateway.context import GatewayContext
    from services.gateway.settings import load_settings
    from services.queue.celery_app import create_app
    from services.queue.submission import client_app

    worker = create_app("taskonomy-security-test")
    gateway = GatewayContext(load_settings(broker_url="redis://127.0.0.1:1/0")).celery
    for app in (worker, gateway, client_app("redis://127.0.0.1:1/0")):
        assert set(app.conf.accept_content) == {"json"}
        assert app.conf.task_serializer == "json"
    assert set(worker.conf.result_accept_content) == {"json"} and worker.conf.result_serializer == "json"
