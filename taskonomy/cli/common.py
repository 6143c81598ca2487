"""Shared CLI plumbing: the console, and the one place caller errors become exit code 2."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from taskonomy.errors import TaskonomyError

console = Console(stderr=True)
P = ParamSpec("P")
R = TypeVar("R")

#: Exit code for a caller's mistake (bad option value, unknown task, unreadable file...).
EXIT_USAGE = 2


def fail(message: str) -> typer.Exit:
    """Print one line to stderr and return an Exit(2) to raise."""
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(EXIT_USAGE)


def silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush does not fail on the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator for commands: TaskonomyError and OSError → one line, exit 2; no tracebacks.

    Set TASKONOMY_DEBUG=1 to see the traceback of an unexpected error.
    """

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except BrokenPipeError:  # `taskonomy status ... | head -1`: the reader has gone, nothing to say
            silence_stdout()
            raise typer.Exit(0) from None
        except TaskonomyError as exc:
            raise fail(str(exc)) from None
        except OSError as exc:
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            raise fail(f"{exc.strerror or exc}{where}") from None
        except Exception as exc:
            if os.environ.get("TASKONOMY_DEBUG"):
                raise
            print(f"internal error: {type(exc).__name__}: {exc} (set TASKONOMY_DEBUG=1 for details)",
                  file=sys.stderr)
            raise typer.Exit(1) from None

    return wrapper
