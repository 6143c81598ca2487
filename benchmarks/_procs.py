"""Child processes of the benchmarks that start services: wait until one is up, stop them all."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence

import httpx


def wait_until(check: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    """Poll ``check`` every 0.1 s (connection errors count as "not yet") until it holds or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up in {timeout_s} s")


def stop_all(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every process (the last started first), then wait up to 15 s each and kill the stragglers."""
    for p in reversed(procs):
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
