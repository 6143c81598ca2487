"""`taskonomy validate`: is a run's taxonomy right? (agreement, families, chance, stability)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from taskonomy.cli.common import console, handle_errors
from taskonomy.errors import InvalidInputError


def register(app: typer.Typer) -> None:
    @app.command("validate")
    @handle_errors
    def validate(
        run_dir: Annotated[Path, typer.Argument(help="a `taskonomy run --out` directory")],
        second: Annotated[Path | None, typer.Option(
            "--second", help="a second run of the same experiment with another seed (stability)")] = None,
        seeds: Annotated[int, typer.Option(
            "--seeds", min=1, max=2, help="2: run the experiment again with the next seed into RUN_DIR/seed-N "
                                          "(sharing the artifact store) and compare the two")] = 1,
        reference: Annotated[str, typer.Option(
            "--reference", help="published table to compare with: paper-16k, paper-1k, paper-base or a table "
                                "file")] = "paper-16k",
        bootstrap: Annotated[int, typer.Option("--bootstrap", min=0, max=100_000,
                                               help="resamples of the test images for win-rate intervals")] = 1000,
        policies: Annotated[int, typer.Option("--policies", min=1000, max=100_000,
                                              help="random feasible policies per budget (1 to 8) in the "
                                                   "significance test")] = 1000,
        json_out: Annotated[bool, typer.Option("--json", help="print validity.json's content")] = False,
        quiet: Annotated[bool, typer.Option("--quiet", help="no progress bars for --seeds 2")] = False,
    ) -> None:
        """Measure whether RUN_DIR's taxonomy is right; write RUN_DIR/validity.json (and its report section).

        Per target: Spearman of the first-order affinities against a published table and whether the
        best source is in its top 3, whether the best source is from the target's family, the best
        source's win rate against the random encoder (bootstrap interval) and, with --second or
        --seeds 2, the agreement of two seeds (affinities, and the roots at budgets 2 to 8).
        Then the paper's own claims: agreement on the targets the paper reproduces as a share of
        the paper's own 1k-vs-16k agreement, the taxonomy's percentile among random feasible
        policies at budgets 1 to 8, the task-similarity tree against the four families (adjusted
        Rand index), higher order against first order, and first-order gains above 0.5.
        """
        import json
        import os

        from taskonomy.validity import validate_run, write_validity  # the model bank, the world: not at --help

        if second is not None and seeds > 1:
            raise InvalidInputError("give either --second DIR or --seeds 2, not both")
        if not run_dir.is_dir():
            raise InvalidInputError(f"RUN_DIR {str(run_dir)!r} is not a directory (a `taskonomy run --out` folder)")
        if seeds > 1:
            second = _run_next_seed(run_dir, show_progress=not quiet)
        report = validate_run(run_dir, second=second, reference=reference, bootstrap=bootstrap, policies=policies)
        path = write_validity(run_dir, report)
        if os.path.exists(run_dir / "report.html"):
            _rewrite_report(run_dir, report)
        body = report.to_dict()
        if json_out:
            print(json.dumps(body, indent=1))
            return
        _print(body)
        console.print(f"wrote {path}")


def _run_next_seed(run_dir: Path, *, show_progress: bool) -> Path:
    """Run the experiment of ``run_dir`` again with seed + 1 into ``run_dir/seed-<seed>`` (resumable)."""
    # execution (torch when it trains) loads when the command runs, not at `taskonomy --help`
    from taskonomy.execution.run import run_experiment
    from taskonomy.modelbank import open_experiment
    from taskonomy.run_outputs import publish_run

    exp = open_experiment(str(run_dir))
    spec = exp.spec.model_copy(update={"seed": exp.spec.seed + 1})
    out = run_dir / f"seed-{spec.seed}"
    console.print(f"running {spec.name} again with seed {spec.seed} into {out} (store {exp.store.url})")
    publish_run(run_experiment(spec, out_dir=out, store=exp.store, show_progress=show_progress), report=False)
    return out


def _rewrite_report(run_dir: Path, report: object) -> None:
    # the model bank and the report (pydantic, the world) load when the command runs, not at `taskonomy --help`
    from taskonomy.contract import build_graph
    from taskonomy.modelbank import open_experiment
    from taskonomy.report import write_report

    exp = open_experiment(str(run_dir))
    write_report(run_dir, store=exp.store, finalize_params=build_graph(exp.spec).finalize_params(),
                 title=f"Taskonomy: {exp.spec.name}",
                 spec=exp.spec.model_dump(mode="json"), validity=report)


def _print(body: dict[str, object]) -> None:
    from rich.table import Table

    summary = body["summary"]
    assert isinstance(summary, dict)
    table = Table(title=f"validity against {body['reference']}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if isinstance(value, dict):  # per budget: the tables below
            continue
        shown = "n/a" if value is None else (("yes" if value else "no") if isinstance(value, bool) else
                                              f"{value:.3f}" if isinstance(value, float) else
                                              ", ".join(map(str, value)) or "none" if isinstance(value, list) else
                                              str(value))
        table.add_row(key.replace("_", " "), shown)
    console.print(table)
    policies = body.get("random_policies")
    if isinstance(policies, list) and policies:
        sig = Table(title=f"taxonomy vs {summary.get('random_policies')} random feasible policies per budget")
        for col in ("budget", "roots", "gain", "random gain", "gain pct", "quality", "random quality", "quality pct"):
            sig.add_column(col)

        def g(v: object, d: int = 3) -> str:
            return "n/a" if v is None else f"{v:.{d}f}" if isinstance(v, float) else str(v)

        for p in policies:
            sig.add_row(f"{p['budget']:g}", ", ".join(p["roots"]), g(p["taxonomy_gain"]), g(p["random_gain_mean"]),
                        g(p["gain_percentile"], 1), g(p["taxonomy_quality"]), g(p["random_quality_mean"]),
                        g(p["quality_percentile"], 1))
        console.print(sig)
    per = Table(title="per target")
    for col in ("target", "best source", "Spearman", "top 3", "family", "vs random", "seeds", "paper 1k-16k"):
        per.add_column(col)
    targets = body["targets"]
    assert isinstance(targets, list)
    for t in targets:
        def f(v: object) -> str:
            return "n/a" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)

        per.add_row(t["target"], str(t["best_source"]), f(t["spearman_vs_reference"]),
                    {True: "yes", False: "no"}.get(t["best_in_reference_top"], "n/a"),
                    {True: "same", False: "other"}.get(t["same_family"], "n/a"),
                    f"{f(t['winrate_vs_random'])} [{f(t['winrate_vs_random_low'])}]",
                    f(t["spearman_between_seeds"]), f(t.get("paper_1k_vs_16k")))
    console.print(per)
