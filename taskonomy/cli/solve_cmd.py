"""`taskonomy solve` and `taskonomy sweep`: taxonomies over a transfer table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from taskonomy.cli.common import handle_errors
from taskonomy.errors import InvalidInputError

if TYPE_CHECKING:
    from taskonomy.selection import TaxonomyProblem, TaxonomySolution

TABLE_HELP = ("a transfer table file (csv | parquet | json), a `taskonomy run --out` directory (its transfers.csv) "
              "or a built-in one: paper-16k, paper-1k, paper-base")
TargetsOpt = Annotated[list[str] | None, typer.Option("--targets", help="targets (ours or paper names)")]
SourceOnlyOpt = Annotated[list[str] | None, typer.Option("--source-only", help="tasks that may only be sources")]
TargetOnlyOpt = Annotated[list[str] | None, typer.Option("--target-only", help="tasks that must get an edge")]
MaxOrderOpt = Annotated[int, typer.Option("--max-order", help="most sources in one transfer")]
ObjectiveOpt = Annotated[str, typer.Option("--objective", help="affinity | gain | quality")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object")]


def _load(table: str) -> Any:
    """The table named on the command line; a run directory means its ``transfers.csv``."""
    from taskonomy.affinity import BUILTIN_TABLES, load_table  # numpy: not at `taskonomy --help`

    path = Path(table)
    if table not in BUILTIN_TABLES and path.is_dir():
        if not (path / "transfers.csv").is_file():
            raise InvalidInputError(f"TABLE: {table!r} is a directory without transfers.csv; give a table file "
                                    "(.csv, .parquet or .json), a `taskonomy run --out` directory or a built-in "
                                    f"table ({', '.join(BUILTIN_TABLES)})")
        table = str(path / "transfers.csv")
    elif table not in BUILTIN_TABLES and path.is_file() and path.suffix.lower() not in (".csv", ".parquet", ".pq",
                                                                                          ".json"):
        raise InvalidInputError(f"TABLE: cannot tell the format of {table!r}: name a .csv, .parquet or .json file, "
                                f"a `taskonomy run --out` directory or a built-in table ({', '.join(BUILTIN_TABLES)})")
    return load_table(table)


def _split(values: list[str] | None) -> tuple[str, ...] | None:
    """Accept both repeated options and comma-separated lists."""
    if values is None:
        return None
    return tuple(v.strip() for item in values for v in item.split(",") if v.strip())


def _problem(targets: list[str] | None, source_only: list[str] | None, target_only: list[str] | None,
             budget: float, max_order: int, objective: str) -> TaxonomyProblem:
    from taskonomy.selection import TaxonomyProblem  # numpy, OR-Tools: not at `taskonomy --help`

    return TaxonomyProblem(targets=_split(targets), source_only=_split(source_only),
                           target_only=_split(target_only) or (), budget=budget, max_order=max_order,
                           objective=objective)  # type: ignore[arg-type]


def format_solution(sol: TaxonomySolution) -> str:
    """A readable taxonomy: roots, then one line per transfer."""
    head = f"{sol.status}  objective={sol.objective_name}  budget={sol.budget:g}  max_order={sol.max_order}"
    if sol.status != "OPTIMAL":
        return f"{head}\nreason: {sol.reason}"
    lines = [f"{head}  value={sol.objective:.4f}  cost={sol.cost:g}  ({sol.solve_time_s * 1000:.1f} ms)",
             f"roots ({len(sol.roots)}): {', '.join(sol.roots)}"]
    if sol.supervised:
        lines.append(f"fully supervised targets: {', '.join(sol.supervised)}")
    width = max((len(e.target) for e in sol.edges), default=0)

    def num(v: float | None) -> str:
        return "  n/a " if v is None else f"{v:.4f}"

    lines.append(f"{'target':<{width}}  affinity  gain    quality  sources")
    for e in sol.edges:
        lines.append(f"{e.target:<{width}}  {num(e.affinity):>8}  {num(e.gain)}  {num(e.quality)}   "
                     f"{' + '.join(e.sources)}")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @app.command("solve")
    @handle_errors
    def solve(
        table: Annotated[str, typer.Argument(help=TABLE_HELP)],
        budget: Annotated[float, typer.Option(
            "--budget", help="supervision budget (roots cost 1 each, the random encoder 0)")] = 6.0,
        max_order: MaxOrderOpt = 5,
        targets: TargetsOpt = None,
        source_only: SourceOnlyOpt = None,
        target_only: TargetOnlyOpt = None,
        objective: ObjectiveOpt = "affinity",
        stability: Annotated[int, typer.Option(
            "--stability", min=0,
            help="also resample affinities within their intervals this many times and report how "
                 "often the roots stay the same (tables with affinity_low/high)")] = 0,
        json_out: JsonOpt = False,
    ) -> None:
        """Solve the taxonomy BIP: which tasks to supervise and where to transfer from."""
        from taskonomy.selection import root_stability, solve_taxonomy  # numpy, OR-Tools: not at `taskonomy --help`

        data = _load(table)
        problem = _problem(targets, source_only, target_only, budget, max_order, objective)
        sol = solve_taxonomy(data, problem)
        share = root_stability(data, problem, samples=stability) if stability else None
        if json_out:
            doc = sol.to_dict()
            if share is not None:
                doc["root_stability"] = share
            print(json.dumps(doc))
            return
        print(format_solution(sol))
        if share is not None:
            print(f"root stability: the same roots in {share:.0%} of {stability} resamplings")

    @app.command("sweep")
    @handle_errors
    def sweep(
        table: Annotated[str, typer.Argument(help=TABLE_HELP)],
        budgets: Annotated[list[float] | None, typer.Option("--budget", help="budgets (default 1..#tasks)")] = None,
        max_order: MaxOrderOpt = 5,
        targets: TargetsOpt = None,
        source_only: SourceOnlyOpt = None,
        target_only: TargetOnlyOpt = None,
        objective: ObjectiveOpt = "affinity",
        json_out: JsonOpt = False,
    ) -> None:
        """The optimal taxonomy for every budget: the Pareto curve of value against supervision."""
        from taskonomy.selection import sweep_budgets  # numpy, OR-Tools: not at `taskonomy --help`

        sols = sweep_budgets(_load(table),
                             _problem(targets, source_only, target_only, 0.0, max_order, objective), budgets)
        if json_out:
            print(json.dumps({"curve": [s.to_dict() for s in sols]}))
            return
        print(f"{'budget':>6}  {'status':<10}  {'value':>7}  {'cost':>5}  roots")
        for s in sols:
            value = "" if s.objective is None else f"{s.objective:.4f}"
            cost = "" if s.cost is None else f"{s.cost:g}"
            print(f"{s.budget:>6g}  {s.status:<10}  {value:>7}  {cost:>5}  {', '.join(s.roots) or s.reason}")
