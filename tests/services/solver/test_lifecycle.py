"""Health (SERVING, NOT_SERVING while shutting down), graceful stop, client retries and deadlines."""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.solver.client import SolverClient, SolverTimeoutError, SolverUnavailableError
from services.solver.server import SERVICE_NAME, SolverServer, create_server

pytestmark = pytest.mark.integration
SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


def test_health_reports_serving(address: str, client: SolverClient) -> None:
    assert client.health() == "SERVING"
    assert client.health(SERVICE_NAME) == "SERVING"
    assert SERVICE_NAME == "taskonomy.solver.v1.SolverService"
    with grpc.insecure_channel(address) as channel:
        with pytest.raises(grpc.RpcError) as info:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="nope"), timeout=5)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_health_is_not_serving_while_shutting_down() -> None:
    server, port = create_server("127.0.0.1:0", max_workers=2, drain_s=1.5)
    server.start()
    seen: list[int] = []
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        watch: Any = health.Watch(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=10)
        seen.append(next(watch).status)
        stopper = threading.Thread(target=lambda: server.stop(grace=0.5).wait())
        stopper.start()
        seen.append(next(watch).status)  # the watcher hears of the shutdown at once
        # during the drain the server still answers, and says it is going away
        assert health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status == NOT_SERVING
        stopper.join(10)
        assert not stopper.is_alive()
        with pytest.raises(grpc.RpcError) as info:
            health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert seen == [SERVING, NOT_SERVING]


def test_graceful_stop_lets_an_in_flight_call_finish() -> None:
    server, port = create_server("127.0.0.1:0", max_workers=2)
    server.start()
    result: dict[str, Any] = {}
    client = SolverClient(f"127.0.0.1:{port}", timeout_s=60, retries=0)
    t0 = time.monotonic()
    client.sweep_budgets("paper-16k")  # 22 solves; warm, and timed so the stop lands mid-call
    duration = time.monotonic() - t0

    def call() -> None:
        result["solutions"] = client.sweep_budgets("paper-16k")
        result["done_at"] = time.monotonic()

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(duration / 4)
    stop_at = time.monotonic()
    server.stop(grace=60).wait(60)
    caller.join(60)
    client.close()
    assert result["done_at"] > stop_at, "the call ended before the stop began: nothing was tested"
    assert [s["status"] for s in result["solutions"]][-1] == "OPTIMAL"


def _free_port() -> int:
    """A port nobody listens on (connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_client_retries_until_the_server_is_up(caplog: pytest.LogCaptureFixture) -> None:
    port = _free_port()
    servers: list[SolverServer] = []

    def start_late() -> None:
        server, _ = create_server(f"127.0.0.1:{port}", max_workers=2)
        server.start()
        servers.append(server)

    starter = threading.Timer(0.5, start_late)
    starter.start()
    try:
        with caplog.at_level(logging.WARNING, logger="services.solver.client"):
            with SolverClient(f"127.0.0.1:{port}", timeout_s=20, retries=8, backoff_s=0.1) as c:
                sol = c.solve_taxonomy("paper-base", {"budget": 2, "max_order": 1})
        assert sol["status"] == "OPTIMAL"
        assert "got UNAVAILABLE" in caplog.text
    finally:
        starter.join()
        for server in servers:
            server.stop(grace=None).wait(5)


def test_client_gives_up_after_its_retries() -> None:
    with SolverClient(f"127.0.0.1:{_free_port()}", timeout_s=10, retries=2, backoff_s=0.05) as c:
        start = time.monotonic()
        with pytest.raises(SolverUnavailableError, match="after 3 attempt"):
            c.solve_taxonomy("paper-base")
        assert time.monotonic() - start < 5


def test_client_deadline(address: str) -> None:
    with SolverClient(address, timeout_s=0.001, retries=3) as c:
        with pytest.raises(SolverTimeoutError):
            c.solve_taxonomy("paper-16k", {"max_order": 24})
