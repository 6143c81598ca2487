"""A real Prometheus server for tests (Debian's ``prometheus``, installed by scripts/setup.sh):
scrapes the given ``/metrics`` targets every second and answers PromQL over its HTTP API."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from services.gateway.server import free_port

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, expr: str) -> dict[tuple[tuple[str, str], ...], float]:
        """An instant query: labels (sorted pairs) -> value."""
        resp = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body: dict[str, Any] = resp.json()
        assert resp.status_code == 200 and body["status"] == "success", (expr, body)
        return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in body["data"]["result"]}

    def wait_for_samples(self, targets: int, samples: int, *, timeout: float = 60) -> None:
        """Until each of ``targets`` targets has been scraped successfully ``samples`` times."""
        deadline = time.monotonic() + timeout
        got: dict[tuple[tuple[str, str], ...], float] = {}
        while time.monotonic() < deadline:
            try:
                got = self.query('sum_over_time(up{job="gateways"}[5m])')
            except (httpx.HTTPError, AssertionError):
                got = {}
            if len(got) == targets and all(v >= samples for v in got.values()):
                return
            time.sleep(0.3)
        raise AssertionError(f"prometheus did not scrape {targets} targets {samples} times: {got}")


@contextmanager
def prometheus(targets: Sequence[str], workdir: Path) -> Iterator[Prometheus]:
    """Prometheus scraping ``targets`` (``host:port``, job ``gateways``) every second."""
    if not Path(PROMETHEUS).exists():
        pytest.fail("prometheus is not installed (scripts/setup.sh installs it with apt)")
    workdir.mkdir(parents=True, exist_ok=True)
    config = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
              "scrape_configs": [{"job_name": "gateways", "static_configs": [{"targets": list(targets)}]}]}
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    with open(workdir / "prometheus.log", "wb") as log:
        proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prometheus did not start: {(workdir / 'prometheus.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield Prometheus(url)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
