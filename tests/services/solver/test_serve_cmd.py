"""`taskonomy serve solver`: a real process that serves, reports health and stops on SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from services.solver.client import SolverClient
from taskonomy.cli import build_app


def test_serve_help_lists_the_solver() -> None:
    result = CliRunner().invoke(build_app(), ["serve", "--help"])
    assert result.exit_code == 0, result.output
    assert "solver" in result.output


def test_bad_port_is_exit_2() -> None:
    result = CliRunner().invoke(build_app(), ["serve", "solver", "--port", "70000"])
    assert result.exit_code == 2


@pytest.mark.integration
@pytest.mark.slow
def test_serve_solver_process_serves_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskonomy", "serve", "solver", "--host", "127.0.0.1", "--port", "0",
         "--drain", "0.2", "--grace", "2"],
        stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stderr is not None
        port = None
        deadline = time.monotonic() + 60
        lines = []
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            port = int(m.group(1)) if m else None
        assert port, "".join(lines)
        with SolverClient(f"127.0.0.1:{port}", timeout_s=30) as c:
            assert c.health() == "SERVING"
            assert c.solve_taxonomy("paper-base", {"budget": 2, "max_order": 1})["status"] == "OPTIMAL"
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=30)[1]
        assert proc.returncode == 0, rest
        assert "SIGTERM" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
