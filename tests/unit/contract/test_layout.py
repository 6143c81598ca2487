"""The contract is data: pydantic and yaml, the task registry and the errors, nothing that runs.

Every service validates, keys and schedules experiments with :mod:`taskonomy.contract`; the
gateway and solver images have no torch or numba (tests/services/gateway/test_layout.py). So the
contract's modules may import only each other, :mod:`taskonomy.tasks`, :mod:`taskonomy.errors`,
the standard library, pydantic and yaml, and importing it loads nothing else.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import taskonomy.contract

CONTRACT = Path(taskonomy.contract.__file__).parent
ALLOWED_THIRD_PARTY = {"pydantic", "yaml"}
ALLOWED_CORE = ("taskonomy.contract", "taskonomy.tasks", "taskonomy.errors")


def test_the_contract_modules_import_only_the_contract_tasks_errors_and_pydantic() -> None:
    for path in CONTRACT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top == "taskonomy":
                    assert name.startswith(ALLOWED_CORE), f"{path.name} imports {name}"
                else:
                    assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY or top == "__future__", \
                        f"{path.name} imports {name}"


def test_importing_the_contract_loads_no_numerics() -> None:
    code = ("import sys, taskonomy.contract as c; c.build_graph(c.preset('standard')); "
            "bad = [m for m in ('numpy', 'torch', 'numba', 'scipy') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
