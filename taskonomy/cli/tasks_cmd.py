"""`taskonomy tasks`: list the registered tasks."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from taskonomy.cli.common import handle_errors


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
        width = Console().width  # the terminal's, or COLUMNS
        if width < WIDE_TABLE_COLUMNS:
            print(narrow_listing(specs, width=width))
            return
        table = Table(title=f"{len(specs)} tasks")
        for col in ("name", "alias", "family", "input", "output", "loss", "target?", "label"):
            table.add_column(col, no_wrap=col in ("name", "alias"))
        for s in specs:
            table.add_row(s.name, s.alias, s.family or "-", "+".join(s.inputs),
                          f"{s.output.kind}[{s.output.channels}]", s.loss, "yes" if s.can_be_target else "source only",
                          s.description)
        Console().print(table)


#: Columns below which ``taskonomy tasks`` prints one block per task instead of the table (eight
#: columns of which the label's text needs the most: narrower, the table squeezes every cell to "…").
WIDE_TABLE_COLUMNS = 140


def narrow_listing(specs: Sequence[Any], *, width: int) -> str:
    """One block per task: ``name (alias)``, then its family, input, output, loss and role on one
    line and its label wrapped to ``width``, every line at most ``width`` characters long."""
    width = max(width, 40)
    out = [f"{len(specs)} tasks", ""]
    for s in specs:
        out.append(_clip(f"{s.name} ({s.alias})" if s.alias and s.alias != s.name else s.name, width))
        facts = (f"family {s.family or '-'}, input {'+'.join(s.inputs)}, output {s.output.kind}[{s.output.channels}], "
                 f"loss {s.loss}, {'target' if s.can_be_target else 'source only'}")
        out += textwrap.wrap(facts, width, initial_indent="  ", subsequent_indent="  ")
        out += textwrap.wrap(s.description, width, initial_indent="  ", subsequent_indent="  ",
                             break_long_words=True)
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"
