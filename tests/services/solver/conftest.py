"""A real solver server on 127.0.0.1:0, shared by the tests of a module."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from services.solver.client import SolverClient
from services.solver.generated import solver_pb2_grpc as pb_grpc
from services.solver.server import SolverServer, create_server


@pytest.fixture(scope="module")
def solver_server() -> Iterator[tuple[SolverServer, int]]:
    server, port = create_server("127.0.0.1:0", max_workers=4)
    server.start()
    yield server, port
    server.stop(grace=None).wait(5)


@pytest.fixture(scope="module")
def address(solver_server: tuple[SolverServer, int]) -> str:
    return f"127.0.0.1:{solver_server[1]}"


@pytest.fixture(scope="module")
def stub(address: str) -> Iterator[pb_grpc.SolverServiceStub]:
    with grpc.insecure_channel(address) as channel:
        yield pb_grpc.SolverServiceStub(channel)


@pytest.fixture(scope="module")
def client(address: str) -> Iterator[SolverClient]:
    with SolverClient(address, timeout_s=60, retries=2, backoff_s=0.05) as c:
        yield c
