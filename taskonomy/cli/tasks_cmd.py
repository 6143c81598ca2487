"""`taskonomy tasks`: list the registered tasks."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from taskonomy.cli._common import handle_errors


def register(app: typer.Typer) -> None:
    @app.command("tasks")
    @handle_errors
    def tasks(json_out: Annotated[bool, typer.Option("--json", help="print a JSON list")] = False) -> None:
        """List the registered tasks (the 26 built-in ones and plugins): family, inputs, output, loss and
        exactly what each label is on the built-in world."""
        from taskonomy.tasks import registry  # numpy and the plugins: not at `taskonomy --help`

        specs = list(registry())
        if json_out:
            print(json.dumps([s.to_dict() for s in specs], indent=2))
            return
        table = Table(title=f"{len(specs)} tasks")
        for col in ("name", "alias", "family", "input", "output", "loss", "target?", "label"):
            table.add_column(col, no_wrap=col in ("name", "alias"))
        for s in specs:
            table.add_row(s.name, s.alias, s.family or "-", "+".join(s.inputs),
                          f"{s.output.kind}[{s.output.channels}]", s.loss, "yes" if s.can_be_target else "source only",
                          s.description)
        Console().print(table)
