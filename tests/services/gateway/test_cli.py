"""`taskonomy serve gateway` as a process: serves, stops on SIGTERM; bad settings exit 2 in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from services.gateway.server import free_port
from tests.services.gateway._fixtures import TOKEN

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def test_serve_gateway_runs_until_sigterm(redis_url: str, solver_address: str, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "TASKONOMY_API_TOKENS": TOKEN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskonomy", "serve", "gateway", "--port", str(port),  # no --host: loopback
         "--solver", solver_address, "--broker", redis_url, "--store", str(tmp_path), "--log-level", "info"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert ready is not None and ready.status_code == 200, ready.text if ready is not None else proc.stderr
        health = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=30).json()
        assert {name: d["up"] for name, d in health["dependencies"].items()} == {
            "redis": True, "solver": True, "store": True}  # the flags reached the gateway
        assert _listening_on(port) == {"127.0.0.1"}  # started by hand: loopback only unless told otherwise
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # uvicorn shuts down gracefully, then re-raises the signal it caught
    assert proc.returncode in (0, -signal.SIGTERM), err
    assert "Shutting down" in err and "Finished server process" in err
    assert TOKEN not in out + err
    # it says where it serves and where it connects
    assert f"serving http://127.0.0.1:{port}" in err  # the console writes to stderr
    assert f"broker {redis_url}, store {tmp_path}, solver {solver_address}" in err


def _listening_on(port: int) -> set[str]:
    """The IPv4 addresses a socket listens on at ``port`` (from /proc/net/tcp: state 0A = LISTEN)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


def test_invalid_settings_exit_2_in_one_line() -> None:
    env = {**os.environ, "TASKONOMY_API_TOKENS": "too-short"}
    out = subprocess.run([sys.executable, "-m", "taskonomy", "serve", "gateway", "--port", str(free_port())],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "at least 16 characters" in lines[0] and "too-short" not in lines[0]
