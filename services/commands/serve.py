"""`taskonomy serve ...`: run one service in the foreground until SIGTERM/SIGINT.

Registered on the core CLI through the ``taskonomy.commands`` entry point. One function per
service, registered on the ``serve`` group in :func:`register`; adding a service is one function
and one line there. Service modules (grpc, fastapi, ...) are imported inside the commands, so
``taskonomy --help`` never loads them.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from taskonomy.cli.common import console, handle_errors


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@handle_errors
def solver(
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="TCP port (0: any free port)")] = 50051,
    host: Annotated[str, typer.Option(help="interface to bind (default: loopback only; '0.0.0.0' or '[::]': all, "
                                           "as the containers pass)")] = "127.0.0.1",
    workers: Annotated[int | None, typer.Option(min=1, help="RPC threads per process (default: CPU count)")] = None,
    processes: Annotated[
        int, typer.Option(min=1, help="server processes sharing the port (SO_REUSEPORT; solves are GIL-bound)")
    ] = 1,
    grace: Annotated[float, typer.Option(min=0, help="seconds in-flight calls get on SIGTERM")] = 10.0,
    drain: Annotated[
        float, typer.Option(min=0, help="seconds of NOT_SERVING health before new calls are refused")
    ] = 2.0,
    log_level: Annotated[str, typer.Option(help="logging level")] = "info",
) -> None:
    """The gRPC solver (AHP + taxonomy BIP) with the standard health service."""
    _logging(log_level)
    address = f"{host}:{port}"

    def ready(bound: int) -> None:
        console.print(f"solver: listening on {host}:{bound} (health: grpc.health.v1.Health)")

    if processes == 1:
        from services.solver.server import serve

        serve(address, max_workers=workers, grace_s=grace, drain_s=drain, on_start=ready)
        return
    from services.solver.processes import serve_processes

    code = serve_processes(address, processes=processes, max_workers=workers, grace_s=grace, drain_s=drain,
                           on_start=ready)
    if code:
        raise typer.Exit(code)


@handle_errors
def gateway(
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="TCP port")] = 8000,
    host: Annotated[str, typer.Option(help="interface to bind (default: loopback only; '0.0.0.0': all, as the "
                                           "containers pass)")] = "127.0.0.1",
    solver: Annotated[str | None, typer.Option("--solver", help="solver HOST:PORT")] = None,
    broker: Annotated[str | None, typer.Option("--broker", help="Redis URL (broker and state store)")] = None,
    store: Annotated[str | None, typer.Option("--store", help="artifact store URL or directory")] = None,
    log_level: Annotated[str, typer.Option(help="logging level")] = "info",
) -> None:
    """The REST gateway (API, web UI at /ui/, /metrics). Other settings: TASKONOMY_* variables."""
    from services.gateway.server import serve
    from services.gateway.settings import load_settings

    _logging(log_level)
    overrides = {k: v for k, v in (("solver_address", solver), ("broker_url", broker), ("store_url", store))
                 if v is not None}
    settings = load_settings(**overrides)

    def started(url: str) -> None:
        from services.queue.redisconn import safe_url

        console.print(f"gateway: serving {url} (web UI: /ui/, API docs: /docs)")
        store = safe_url(settings.store_url) if settings.store_url else "none"
        typer.echo(f"gateway: broker {safe_url(settings.broker_url)}, store {store}, solver {settings.solver_address}",
                   err=True)  # one unwrapped line

    serve(settings, host=host, port=port, log_level=log_level, on_start=started)


def register(app: typer.Typer) -> None:
    serve_app = typer.Typer(no_args_is_help=True, help="Run a service in the foreground (stops on SIGTERM).")

    @serve_app.callback()
    def _serve() -> None:
        """Run a service in the foreground (stops gracefully on SIGTERM)."""

    serve_app.command("solver")(solver)
    serve_app.command("gateway")(gateway)
    app.add_typer(serve_app, name="serve")
