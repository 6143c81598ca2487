"""`taskonomy spec`: the experiment spec — its JSON schema, a preset, or a config file checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from taskonomy.cli.common import handle_errors
from taskonomy.errors import InvalidInputError


def register(app: typer.Typer) -> None:
    @app.command("spec")
    @handle_errors
    def spec(
        schema: Annotated[bool, typer.Option("--schema", help="print the JSON schema of the experiment spec "
                                                              "(every field, its bounds and allowed values)")] = False,
        preset: Annotated[str | None, typer.Option("--preset", help="print this preset: quick | standard | "
                                                                    "paper")] = None,
        config: Annotated[Path | None, typer.Option(
            "--config", help="validate this YAML/JSON config (it may name a `preset:`); print the full spec")] = None,
    ) -> None:
        """Print the experiment spec's JSON schema, a preset, or a config file as the validated spec.

        A config is checked exactly as `taskonomy run --config` checks it: an invalid one exits
        with code 2 and one line naming every wrong field.
        """
        # pydantic and the world (scipy) load when the command runs, not at `taskonomy --help`
        from taskonomy.contract import ExperimentSpec
        from taskonomy.contract import preset as make_preset

        if sum((schema, preset is not None, config is not None)) != 1:
            raise InvalidInputError("give exactly one of --schema, --preset NAME or --config FILE")
        if schema:
            print(json.dumps(ExperimentSpec.model_json_schema(), indent=1, sort_keys=True))
            return
        if preset is not None:
            found = make_preset(preset)
        else:
            assert config is not None
            found = ExperimentSpec.from_file(config)
        print(json.dumps({"id": found.content_key(), "spec": found.model_dump(mode="json")}, indent=1, sort_keys=True))
