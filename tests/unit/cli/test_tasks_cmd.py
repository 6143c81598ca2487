from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from taskonomy.cli import build_app


def test_tasks_json() -> None:
    result = CliRunner().invoke(build_app(), ["tasks", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 26
    assert {"name", "alias", "input", "output"} <= set(rows[0])


def test_tasks_table_and_help_run_as_a_process() -> None:
    out = subprocess.run([sys.executable, "-m", "taskonomy", "tasks"], capture_output=True, text=True, check=True)
    assert "depth_zbuffer" in out.stdout


def test_unknown_option_is_exit_2() -> None:
    result = CliRunner().invoke(build_app(), ["tasks", "--nope"])
    assert result.exit_code == 2


def test_tasks_is_readable_at_80_columns() -> None:
    """At 80 columns every task prints as a block: every line fits, no cell is squeezed to '…', and
    every task's label is there in full (wide terminals keep the table)."""
    import os

    from taskonomy.tasks import registry

    env = {**os.environ, "COLUMNS": "80"}
    out = subprocess.run([sys.executable, "-m", "taskonomy", "tasks"], capture_output=True, text=True, check=True,
                         env=env).stdout
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in out
    flat = " ".join(out.split())
    for spec in registry():
        assert " ".join(spec.description.split()) in flat, spec.name
        assert f"loss {spec.loss}" in flat
    wide = subprocess.run([sys.executable, "-m", "taskonomy", "tasks"], capture_output=True, text=True, check=True,
                          env={**os.environ, "COLUMNS": "200"}).stdout
    assert "┃ name" in wide  # the table
