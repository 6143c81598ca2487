"""The `taskonomy` command line (typer).

Each command group lives in its own module (``*_cmd``) exposing ``register(app)``; the plumbing
they share (the stderr ``console``, ``handle_errors``, ``fail``, the usage exit code) lives in
:mod:`taskonomy.cli.common`, which other packages' commands import too. Heavy imports (torch,
OR-Tools, pydantic, the world, servers) happen inside the commands so that ``taskonomy --help``
stays fast. ``run`` composes a local run (:mod:`taskonomy.execution`) with what reads its artifacts
(:func:`taskonomy.run_outputs.publish_run`); ``spec`` prints the spec's JSON schema or checks a config.
Commands of other packages (the services' ``worker``, ``submit``, ``serve``...) are found through
the ``taskonomy.commands`` entry point group, each naming a ``register(app)`` function: the core
never imports them.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from importlib.metadata import entry_points

import typer

from taskonomy.cli.common import silence_stdout

#: Entry point group of the command modules of other packages.
COMMANDS_GROUP = "taskonomy.commands"

#: Command modules, in help order. A module registers its commands on the root app.
COMMAND_MODULES: tuple[str, ...] = (
    "run_cmd",      # taskonomy run
    "validate_cmd",  # taskonomy validate
    "spec_cmd",     # taskonomy spec --schema | --preset | --config
    "solve_cmd",    # taskonomy solve / sweep
    "tasks_cmd",    # taskonomy tasks
    "world_cmd",    # taskonomy world render / preview
    "models_cmd",   # taskonomy models / predict
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
    for ep in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        try:
            register = ep.load()
        except ImportError as exc:  # an installation whose metadata names a module it lacks
            if os.environ.get("TASKONOMY_DEBUG"):
                print(f"taskonomy: commands {ep.value!r} not loaded: {exc}", file=sys.stderr)
            continue
        register(app)
    return app


def main() -> None:
    try:
        build_app()()
    finally:  # output piped into `head`: the reader may be gone before the last flush
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            silence_stdout()
