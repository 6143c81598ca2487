"""Health (SERVING, NOT_SERVING while shutting down), graceful stop, client retries and deadlines."""

from __future__ import annotations

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
    client.sweep_budgets("paper-16k")  # warm (the table is loaded once per process)
    t0 = time.monotonic()
    client.sweep_budgets("paper-16k")  # 22 solves, timed warm so that the stop lands mid-call
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


def test_client_retries_until_the_server_is_up() -> None:
    """gRPC's retry policy (the channel's service config) retries UNAVAILABLE: pauses of up to
    1, 2, 4, 8 s (random) ride out a server that starts 0.3 s late."""
    port = _free_port()
    servers: list[SolverServer] = []

    def start_late() -> None:
        server, _ = create_server(f"127.0.0.1:{port}", max_workers=2)
        server.start()
        servers.append(server)

    with SolverClient(f"127.0.0.1:{port}", timeout_s=5, retries=0) as c:
        with pytest.raises(SolverUnavailableError, match=rf"solver at 127.0.0.1:{port} unavailable \(1 attempt\)"):
            c.solve_taxonomy("paper-base")  # no retries: the refused connection is the answer
    starter = threading.Timer(0.3, start_late)
    starter.start()
    try:
        with SolverClient(f"127.0.0.1:{port}", timeout_s=20, retries=4, backoff_s=1.0) as c:
            sol = c.solve_taxonomy("paper-base", {"budget": 2, "max_order": 1})
        assert sol["status"] == "OPTIMAL"
    finally:
        starter.join()
        for server in servers:
            server.stop(grace=None).wait(5)


def test_client_gives_up_after_its_retries() -> None:
    with SolverClient(f"127.0.0.1:{_free_port()}", timeout_s=10, retries=2, backoff_s=0.05) as c:
        start = time.monotonic()
        with pytest.raises(SolverUnavailableError, match="after up to 3 attempts"):
            c.solve_taxonomy("paper-base")
        assert time.monotonic() - start < 5


def test_client_deadline(address: str) -> None:
    with SolverClient(address, timeout_s=0.001, retries=3) as c:
        with pytest.raises(SolverTimeoutError):
            c.solve_taxonomy("paper-16k", {"max_order": 24})


def test_health_answers_within_its_deadline_under_any_solve_load() -> None:
    """Solves run in their own executor: with both solve threads busy and more sweeps queued, the
    health service still answers every probe well within a 1 s deadline (issue 17, item 6)."""
    server, port = create_server("127.0.0.1:0", max_workers=2)
    server.start()
    address = f"127.0.0.1:{port}"
    stop = threading.Event()
    calls: list[tuple[float, float]] = []

    def sweep() -> None:
        with SolverClient(address, timeout_s=120, retries=0) as c:
            while not stop.is_set():
                t0 = time.monotonic()
                c.sweep_budgets("paper-16k", {"max_order": 5})
                calls.append((t0, time.monotonic()))

    sweepers = [threading.Thread(target=sweep) for _ in range(4)]
    probes: list[tuple[float, float]] = []
    try:
        with SolverClient(address, timeout_s=5, retries=0) as probe:
            assert probe.health() == "SERVING"
            for t in sweepers:
                t.start()
            time.sleep(0.5)  # the sweeps hold both solve threads, two more wait
            for _ in range(20):
                t0 = time.monotonic()
                assert probe.health(timeout_s=1.0) == "SERVING"
                probes.append((t0, time.monotonic()))
                time.sleep(0.05)
    finally:
        stop.set()
        for t in sweepers:
            t.join(120)
        server.stop(grace=None).wait(5)
    busy = [sum(a <= t0 and t1 <= b for a, b in calls) for t0, t1 in probes]
    assert min(busy) >= 2, f"fewer than 2 sweeps in flight during a probe: {busy}"
    latency = max(t1 - t0 for t0, t1 in probes)
    print(f"health under 4 concurrent sweeps: max {latency * 1e3:.0f} ms over {len(probes)} probes")
    assert latency < 1.0


def test_a_solve_beyond_the_queue_is_refused_as_busy() -> None:
    server, port = create_server("127.0.0.1:0", max_workers=1, max_queued=0)
    server.start()
    outcomes: list[str] = []

    def sweep() -> None:
        with SolverClient(f"127.0.0.1:{port}", timeout_s=60, retries=0) as c:
            try:
                c.sweep_budgets("paper-16k", {"max_order": 5})
                outcomes.append("ok")
            except SolverUnavailableError as exc:
                outcomes.append(str(exc))

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        server.stop(grace=None).wait(5)
    assert sorted(outcomes)[0] == "ok" and "solver busy" in sorted(outcomes)[1], outcomes
