"""Fixtures of the gateway tests (also used by tests/browser): a real solver gRPC server on port
0, the session's real redis-server, and the gateway served by a real uvicorn on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from services.gateway.app import create_app
from services.gateway.context import GatewayContext
from services.gateway.server import BackgroundServer
from services.gateway.settings import GatewaySettings, load_settings

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Live:
    url: str
    settings: GatewaySettings
    ctx: GatewayContext
    store_dir: Path

    def client(self, *, auth: bool = False) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=AUTH if auth else {}, timeout=30)


@pytest.fixture(scope="session")
def solver_address() -> Iterator[str]:
    from services.solver.server import create_server

    server, port = create_server("127.0.0.1:0", max_workers=2)
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(0)


def make_settings(redis_url: str, solver_address: str, store_dir: Path, **overrides: object) -> GatewaySettings:
    values: dict[str, object] = {
        "broker_url": redis_url, "store_url": str(store_dir), "solver_address": solver_address,
        "api_tokens": TOKEN, "solver_timeout_s": 30.0,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture(scope="module")
def live(redis_server, solver_address: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    store_dir = tmp_path_factory.mktemp("artifacts")
    settings = make_settings(redis_server.url, solver_address, store_dir)
    app = create_app(settings)
    with BackgroundServer(app) as srv:
        yield Live(url=srv.url, settings=settings, ctx=app.state.ctx, store_dir=store_dir)


@pytest.fixture()
def gw(live: Live, redis_url: str) -> Live:
    """The module's live gateway over a freshly flushed Redis database."""
    return live
