"""`taskonomy serve solver`: a real process that serves, reports health and stops on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
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


def _wait_for_port(proc: subprocess.Popen[str]) -> tuple[int, list[str]]:
    """The port from the 'listening on' line of a `taskonomy serve solver` process, and the list
    its stderr keeps being collected into."""
    stderr = proc.stderr
    assert stderr is not None
    deadline = time.monotonic() + 90
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = stderr.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if m:
            threading.Thread(target=lambda: lines.extend(stderr), daemon=True).start()  # keep draining
            return int(m.group(1)), lines
    raise AssertionError("no 'listening on' line:\n" + "".join(lines))


@pytest.mark.integration
@pytest.mark.slow
def test_serve_solver_process_serves_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskonomy", "serve", "solver", "--host", "127.0.0.1", "--port", "0",
         "--drain", "0.2", "--grace", "2"],
        stderr=subprocess.PIPE, text=True,
    )
    try:
        port, lines = _wait_for_port(proc)
        with SolverClient(f"127.0.0.1:{port}", timeout_s=30) as c:
            assert c.health() == "SERVING"
            assert c.solve_taxonomy("paper-base", {"budget": 2, "max_order": 1})["status"] == "OPTIMAL"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, "".join(lines)
        time.sleep(0.1)
        assert "SIGTERM received" in "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT processes: Linux")
def test_serve_solver_with_two_processes_on_one_port() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskonomy", "serve", "solver", "--host", "127.0.0.1", "--port", "0",
         "--processes", "2", "--drain", "0", "--grace", "2"],
        stderr=subprocess.PIPE, text=True,
    )
    try:
        port, lines = _wait_for_port(proc)
        servers = [c for c in _children(proc.pid) if "spawn_main" in open(f"/proc/{c}/cmdline").read()]
        assert len(servers) == 2
        answers = []
        for _ in range(4):  # new channels, spread over both processes by the kernel
            with SolverClient(f"127.0.0.1:{port}", timeout_s=30) as c:
                assert c.health() == "SERVING"
                answers.append(c.solve_taxonomy("paper-base", {"budget": 2, "max_order": 1})["roots"])
        assert all(a == answers[0] for a in answers)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, "".join(lines)
        assert not any(os.path.exists(f"/proc/{c}") and _alive(c) for c in servers)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _alive(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
