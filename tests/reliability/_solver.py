"""A solver service as a real process (``taskonomy serve solver``) on a fixed port, to kill -9 and
start again on the same port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from services.gateway.server import free_port

ROOT = Path(__file__).resolve().parents[2]


class SolverProcess:
    def __init__(self, log_path: Path, *, port: int | None = None) -> None:
        self.port = port if port is not None else free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> None:
        from services.solver.client import SolverClient

        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "taskonomy", "serve", "solver", "--host", "127.0.0.1", "--port",
                 str(self.port), "--drain", "0", "--grace", "1"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        with SolverClient(self.address, timeout_s=1.0, retries=0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"solver exited: {self.log_path.read_text()[-2000:]}")
                try:
                    if client.health() == "SERVING":
                        return
                except Exception:
                    time.sleep(0.1)
        raise RuntimeError(f"solver not serving on {self.address}: {self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None
