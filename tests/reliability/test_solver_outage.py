"""The solver killed (SIGKILL) while the gateway answers taxonomy queries: every query in the
outage is a 503 problem+json with Retry-After (never a 500, 502 or a hang), and once a solver is
back on the same port the gateway answers again, with the same answers as before the kill."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.gateway.app import create_app
from services.gateway.server import BackgroundServer
from tests.reliability._solver import SolverProcess
from tests.services.gateway._fixtures import make_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUERIES = [{"table": "paper-base", "budget": b, "max_order": o} for b in (2, 3, 4) for o in (1, 2)]


class Querier(threading.Thread):
    """Sends the queries round-robin until stopped; records (phase, status, headers, body)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.phase = "before"
        self.results: list[tuple[str, int, dict[str, str], Any, float]] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as c:
            i = 0
            while not self.stop_event.is_set():
                query = QUERIES[i % len(QUERIES)]
                phase, t0 = self.phase, time.perf_counter()
                try:
                    r = c.post("/v1/taxonomy", json=query)
                    body: Any = r.json()
                    status, headers = r.status_code, dict(r.headers)
                except httpx.HTTPError as exc:  # a hang or a dropped connection: never allowed
                    status, headers, body = -1, {}, repr(exc)
                if phase != self.phase and phase == "before":  # in flight when the solver was killed
                    phase = "in-flight"
                self.results.append((phase, status, headers, (i % len(QUERIES), body),
                                     time.perf_counter() - t0))
                i += 1

    def count(self, status: int, phase: str | None = None) -> int:
        return sum(1 for p, s, *_ in list(self.results) if s == status and (phase is None or p == phase))


def _wait(predicate: Any, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_solver_killed_during_queries_gives_503_then_recovers(redis_url: str, tmp_path: Path) -> None:
    solver = SolverProcess(tmp_path / "solver.log")
    solver.start()
    # no answer cache: every query must reach the solver
    settings = make_settings(redis_url, solver.address, tmp_path / "store", cache_size=0, solver_timeout_s=3.0,
                             retry_after_s=2)
    querier: Querier | None = None
    try:
        with BackgroundServer(create_app(settings)) as srv:
            querier = Querier(srv.url)
            querier.start()
            _wait(lambda: querier.count(200, "before") >= len(QUERIES), timeout=60, what="answers before the kill")
            querier.phase = "outage"
            solver.kill()
            _wait(lambda: querier.count(503, "outage") >= 3, timeout=30, what="503 answers during the outage")
            querier.phase = "restarting"
            solver.start()  # same port
            querier.phase = "after"
            _wait(lambda: querier.count(200, "after") >= len(QUERIES), timeout=30, what="answers after the restart")
            querier.stop_event.set()
            querier.join(timeout=40)
            with httpx.Client(base_url=srv.url, timeout=10) as c:
                ready = c.get("/readyz")
    finally:
        if querier is not None:
            querier.stop_event.set()
        solver.stop()
    results = querier.results
    assert ready.status_code == 200, ready.text
    statuses = {s for _, s, *_ in results}
    assert statuses <= {200, 503}, sorted(statuses)  # no 5xx but 503, no dropped connection or hang
    assert max(t for *_, t in results) < 15  # deadline 3 s: a query never hangs
    for phase, status, headers, (_, body), _t in results:
        if status == 503:
            assert phase in ("in-flight", "outage", "restarting", "after"), phase
            assert headers["retry-after"] == "2"
            assert headers["content-type"] == "application/problem+json"
            assert body["status"] == 503 and "solver" in body["detail"]
    # the same question gets the same answer after the restart (solve time aside)
    answers: dict[str, dict[int, Any]] = {"before": {}, "after": {}}
    for phase, status, _, (i, body), _t in results:
        if status == 200 and phase in answers:
            answers[phase][i] = {k: v for k, v in body.items() if k != "solve_time_s"}
    assert answers["before"] == answers["after"] and len(answers["after"]) == len(QUERIES)
    first_ok = next(n for n, (p, s, *_) in enumerate(results) if p == "after" and s == 200)
    late = [r for r in results[first_ok:] if r[1] != 200]
    assert late == [], late[:3]  # once recovered, it stays recovered
    print(f"solver outage: {len(results)} queries, {querier.count(503)} answered 503, "
          f"{querier.count(200)} answered 200, {querier.count(503, 'after')} 503 after the restart")
