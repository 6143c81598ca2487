"""Running the gateway: ``serve()`` (uvicorn in the foreground, used by ``taskonomy serve gateway``)
and :class:`BackgroundServer` (uvicorn on a free port in a thread, used by tests and benchmarks)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from services.gateway.settings import GatewaySettings


def serve(
    settings: GatewaySettings,
    *,
    host: str = "0.0.0.0",  # noqa: S104 (a service listens on all interfaces in its container)
    port: int = 8000,
    log_level: str = "info",
    on_start: Callable[[str], None] | None = None,
) -> None:
    """Run the gateway until SIGTERM/SIGINT (uvicorn handles both gracefully)."""
    import uvicorn

    from services.gateway.app import create_app
    from services.gateway.auth import install_redaction

    app = create_app(settings)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level.lower(), proxy_headers=True,
                            server_header=False, timeout_graceful_shutdown=10)
    install_redaction(settings.tokens())  # again: uvicorn's Config has just set up its log handlers
    if on_start is not None:
        on_start(f"http://{host}:{port}")
    uvicorn.Server(config).run()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class BackgroundServer:
    """A real uvicorn server for ``app`` on a free loopback port, in a daemon thread.

    >>> with BackgroundServer(create_app(settings)) as srv:  # doctest: +SKIP
    ...     httpx.get(srv.url + "/healthz")
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int | None = None,
                 log_level: str = "warning") -> None:
        import uvicorn

        self.host = host
        self.port = port if port is not None else free_port(host)
        config = uvicorn.Config(app, host=host, port=self.port, log_level=log_level, lifespan="on",
                                access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="gateway-uvicorn", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 15.0) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"gateway did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
