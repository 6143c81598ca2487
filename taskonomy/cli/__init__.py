"""The `taskonomy` command line (typer).

Each command group lives in its own module exposing ``register(app)``; heavy imports (torch,
OR-Tools, servers) happen inside the commands so that ``taskonomy --help`` stays fast.
"""

from __future__ import annotations

import importlib
import importlib.util

import typer

#: Command modules, in help order. A module registers its commands on the root app.
COMMAND_MODULES: tuple[str, ...] = (
    "run_cmd",      # taskonomy run
    "validate_cmd",  # taskonomy validate
    "solve_cmd",    # taskonomy solve / sweep
    "tasks_cmd",    # taskonomy tasks
    "world_cmd",    # taskonomy world render / preview
    "models_cmd",   # taskonomy models / predict
    "worker_cmd",   # taskonomy worker / submit / status
    "serve_cmd",    # taskonomy serve solver / gateway
)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="taskonomy",
        help="Taskonomy as a service: task transfer affinities, AHP and the taxonomy BIP.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    @app.callback()
    def _root() -> None:
        """Taskonomy as a service: task transfer affinities, AHP and the taxonomy BIP."""

    for name in COMMAND_MODULES:
        qualified = f"{__name__}.{name}"
        if importlib.util.find_spec(qualified) is None:
            continue
        importlib.import_module(qualified).register(app)
    return app


def main() -> None:
    build_app()()
