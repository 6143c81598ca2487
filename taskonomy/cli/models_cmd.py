"""`taskonomy models list|export` and `taskonomy predict`: an experiment's trained networks.

EXPERIMENT is a run directory of `taskonomy run --out DIR` (it records the spec and the store
in DIR/experiment.json) or, with `--store URL`, an experiment id whose record is in that store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from taskonomy.cli.common import console, handle_errors
from taskonomy.files import check_writable_dir

StoreOpt = Annotated[str | None, typer.Option("--store", help="artifact store (directory or s3:// URL); needed "
                                                              "when EXPERIMENT is an id rather than a run dir")]


def register(app: typer.Typer) -> None:
    models = typer.Typer(help="Trained networks of an experiment: model cards and weights.", no_args_is_help=True)
    app.add_typer(models, name="models")

    @models.command("list")
    @handle_errors
    def list_cmd(
        experiment: Annotated[str, typer.Argument(help="run directory (taskonomy run --out) or experiment id")],
        store: StoreOpt = None,
        as_json: Annotated[bool, typer.Option("--json", help="print the cards as JSON")] = False,
    ) -> None:
        """List the model cards of every trained network (task-specific and transfers)."""
        import json

        from taskonomy.modelbank import list_models, open_experiment  # pydantic, the world: not at --help

        exp = open_experiment(experiment, store=store)
        cards = list_models(exp)
        if as_json:
            print(json.dumps({"experiment": exp.id, "models": cards}, indent=1, sort_keys=True))
            return
        console.print(f"experiment {exp.id}: {len(cards)} trained networks in {exp.store.url}")
        for c in cards:
            test = c.get("test") or {}
            aff = (c.get("transfer") or {}).get("affinity")
            src = f" <- {'+'.join(c['sources'])}" if c["sources"] else ""
            loss = f"test {test['loss']} {test['mean']:.4g}" if test else "no test losses"
            extra = f", affinity {aff:.3f}" if aff is not None else ""
            print(f"{c['role']:<13} {c['task']}{src}  {loss}{extra}  {c['weights']}")

    @models.command("export")
    @handle_errors
    def export_cmd(
        experiment: Annotated[str, typer.Argument(help="run directory (taskonomy run --out) or experiment id")],
        out: Annotated[Path, typer.Option("--out", help="folder for <name>.safetensors + <name>.json + models.json")],
        store: StoreOpt = None,
        task_only: Annotated[bool, typer.Option("--task-only", help="only the task-specific networks")] = False,
    ) -> None:
        """Write every network's safetensors weights and card to a folder.

        The weights load with taskonomy.training.load_network and the project's builders.
        """
        import json

        from taskonomy.modelbank import export_models, open_experiment  # pydantic, the world: not at --help

        exp = open_experiment(experiment, store=store)
        index = export_models(exp, out, roles=("task_specific",) if task_only else None)
        console.print(f"exported {len(index)} networks to {out}")
        print(json.dumps({"experiment": exp.id, "out": str(out), "models": len(index)}))

    @app.command("predict")
    @handle_errors
    def predict_cmd(
        image: Annotated[Path, typer.Argument(help="a PNG or JPEG image (any size: centre-cropped and resized)")],
        experiment: Annotated[str, typer.Option("--experiment", help="run directory or experiment id")],
        out: Annotated[Path, typer.Option("--out", help="folder for one PNG per task + predictions.json")],
        store: StoreOpt = None,
        transfers: Annotated[bool, typer.Option("--transfers", help="also run the transfers the taxonomy "
                                                                     "chose")] = False,
    ) -> None:
        """Run every task-specific network of an experiment on one image; one PNG per task.

        Pictures are drawn the way `taskonomy world preview` draws ground truth. Multi-view
        tasks (egomotion, poses, point matching) need several views and are skipped.
        """
        import json

        # the model bank and torch load when the command runs, not at `taskonomy --help`
        from taskonomy.modelbank import decode_image, open_experiment
        from taskonomy.modelbank.predict import image_sample, predict_sample, render, write_pngs

        exp = open_experiment(experiment, store=store)
        created = not out.exists()
        check_writable_dir(out)
        try:
            pixels = decode_image(image.read_bytes())
            pset = render(predict_sample(exp, image_sample(exp, pixels), transfers=transfers))
            write_pngs(pset, out)
        except BaseException:
            if created and out.is_dir() and not any(out.iterdir()):  # a failed prediction leaves no empty folder
                out.rmdir()
            raise
        for name, why in pset.skipped.items():
            console.print(f"skipped {name}: {why}")
        console.print(f"wrote {len(pset.predictions)} predictions to {out}")
        print(json.dumps({"experiment": exp.id, "out": str(out), **pset.to_dict()}))
