"""`taskonomy run`: the main job — a whole experiment on this machine, with a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from taskonomy.cli.common import console, handle_errors
from taskonomy.errors import InvalidInputError
from taskonomy.files import check_writable_dir


def register(app: typer.Typer) -> None:
    @app.command("run")
    @handle_errors
    def run(
        out: Annotated[Path, typer.Option("--out", help="output directory (transfers.csv, taxonomy.json, "
                                                         "report.html)")],
        preset: Annotated[str | None, typer.Option("--preset", help="quick | standard | paper (default quick, "
                                                                    "or the config's preset)")] = None,
        config: Annotated[Path | None, typer.Option("--config", help="experiment spec (YAML or JSON); may name "
                                                                     "a `preset:` to start from")] = None,
        store: Annotated[str | None, typer.Option(
            "--store", help="artifact store: a directory or s3:// URL (default OUT/artifacts; re-running resumes)",
        )] = None,
        tasks: Annotated[str | None, typer.Option("--tasks", help="comma-separated tasks (ours or paper names) "
                                                                  "replacing the preset's")] = None,
        no_report: Annotated[bool, typer.Option("--no-report", help="skip report.html and its figures")] = False,
        quiet: Annotated[bool, typer.Option("--quiet", help="no progress bars")] = False,
        threads: Annotated[int | None, typer.Option("--threads", min=1, help="torch CPU threads (default: torch's "
                                                                             "choice, one per core)")] = None,
        workers: Annotated[int | None, typer.Option(
            "--workers", min=1, help="processes that train and evaluate networks side by side (default: "
                                     "TASKONOMY_WORKERS, else one per core, one with a GPU); each gets the cores "
                                     "shared out as torch threads unless --threads says otherwise")] = None,
        proxy_only: Annotated[bool, typer.Option(
            "--proxy-only", help="no transfer training: score every candidate with LogME on the cached features "
                                 "(writes proxies.csv, transfers.csv without gain/quality, taxonomy.json); "
                                 "the spec's affinity.estimate: proxy")] = False,
        mode: Annotated[str, typer.Option(
            "--mode", help="transfer training: per-job (one transfer per job), fused (all first-order transfers in "
                           "one loop, same results: the spec's transfer_jobs: all), halving (successive halving on "
                           "--halving-budget of the compute: the spec's affinity.estimate: halving)")] = "per-job",
        halving_budget: Annotated[float | None, typer.Option(
            "--halving-budget", min=0.01, max=1.0, help="share of full training's compute for --mode halving (the "
                                                        "spec's affinity.halving_budget)")] = None,
        precision: Annotated[str | None, typer.Option(
            "--precision", help="training arithmetic for every network: auto (bf16 on CUDA, fp32 on the CPU), "
                                "fp32, or bf16 (also on the CPU: several times faster where it has AMX; "
                                "not bit-identical to fp32, so a separate set of artifacts)")] = None,
    ) -> None:
        """Compute transfers, AHP affinities and the taxonomy; write the table, the taxonomy and a report.

        Everything is validated before any training starts. Artifacts are content-addressed, so
        running the same command again resumes an interrupted run, and adding a task computes
        only its new rows and columns.
        """
        import json
        import time

        from taskonomy.contract import PRESETS, ExperimentSpec
        from taskonomy.contract import preset as make_preset

        # Imported here, not at the top: every command module loads at `taskonomy --help`, and these
        # bring pydantic, the world (scipy) and torch.
        from taskonomy.contract.config import PRECISIONS
        from taskonomy.execution.local import default_workers
        from taskonomy.execution.run import default_store_url, run_experiment, validate_experiment
        from taskonomy.run_outputs import publish_run
        from taskonomy.store import check_store

        if preset is not None and preset not in PRESETS:
            raise InvalidInputError(f"--preset: unknown preset {preset!r}; known: {', '.join(PRESETS)}")
        if config is not None:
            spec = ExperimentSpec.from_file(config)
            if preset is not None:
                body = spec.model_dump(mode="json")
                spec = ExperimentSpec.from_mapping({**body, "preset": preset}, origin=f"config file {str(config)!r}")
        else:
            spec = make_preset(preset or "quick")
        if tasks is not None:
            names = [t.strip() for t in tasks.split(",") if t.strip()]
            if not names:
                raise InvalidInputError("--tasks: give at least one task name")
            spec = spec.with_tasks(names)
        if precision is not None:
            if precision not in PRECISIONS:
                raise InvalidInputError(f"--precision: unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
            body = spec.model_dump(mode="json")
            for part in ("train", "transfer"):
                body[part] = {**body[part], "precision": precision}
            spec = ExperimentSpec.from_mapping(body, origin="--precision")
        spec = _apply_mode(spec, mode=mode, proxy_only=proxy_only, halving_budget=halving_budget)
        out_dir = check_writable_dir(out)
        validate_experiment(spec, out_dir=out_dir)
        art = check_store(store or default_store_url(out_dir))  # scheme, reachable, writable: before any work
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        n_workers = workers or default_workers()
        t0 = time.perf_counter()
        console.print(f"[bold]taskonomy run[/bold] {spec.name}: {len(spec.tasks)} tasks, "
                      f"{spec.dataset.kind} {spec.dataset.size}px, splits {spec.splits.train}/"
                      f"{spec.splits.transfer}/{spec.splits.test}, max order {spec.max_order}; store {art.url}; "
                      f"{n_workers} worker process{'es' if n_workers > 1 else ''}")
        result = run_experiment(spec, out_dir=out_dir, store=art, show_progress=not quiet, workers=n_workers,
                                threads=threads)
        published = publish_run(result, report=not no_report)  # the run's artifacts read by cards and report
        if result.proxies_path is not None:
            roots = result.taxonomy.get("roots") or []
            console.print(f"proxy taxonomy ({spec.affinity.proxy}): status {result.taxonomy.get('status')}, roots "
                          f"[bold]{', '.join(roots)}[/bold]")
            print(json.dumps({"out": result.out_dir, "proxies": result.proxies_path, "transfers": result.table_path,
                              "taxonomy": result.taxonomy_path, "roots": roots,
                              "seconds": round(time.perf_counter() - t0, 2)}))
            return
        tax = result.taxonomy
        st = result.stats
        console.print(f"jobs: {len(st.executed)} run, {len(st.skipped)} already done; "
                      f"{time.perf_counter() - t0:.1f} s")
        if tax.get("status") == "OPTIMAL":
            console.print(f"taxonomy (budget {tax['budget']:g}): roots [bold]{', '.join(tax['roots'])}[/bold], "
                          f"objective {tax['objective']:.4f}")
            edges = sorted(tax.get("edges", []), key=lambda e: -(e.get("affinity") or 0.0))
            for e in edges[:8]:
                console.print(f"  {' + '.join(e['sources'])} -> {e['target']}  affinity {e['affinity']:.3f}  "
                              f"gain {e['gain']:.2f}")
        else:
            console.print(f"taxonomy: {tax.get('status')} ({tax.get('reason')})")
        validity_path = Path(result.out_dir) / "validity.json"
        if published.report_path and validity_path.is_file():
            v = json.loads(validity_path.read_text())["summary"]

            def pct(x: object) -> str:
                return "n/a" if x is None else f"{float(x):.0%}"  # type: ignore[arg-type]

            rho = v.get("mean_spearman_vs_reference")
            console.print(f"validity vs paper-16k: mean Spearman {'n/a' if rho is None else f'{rho:.2f}'}, best source "
                          f"in its top 3 for {pct(v.get('share_best_in_reference_top3'))}, from the target's family "
                          f"for {pct(v.get('share_best_from_own_family'))}, clearly beats the random encoder for "
                          f"{pct(v.get('share_beats_random'))} of targets (validate --seeds 2 adds stability)")
        written = [result.table_path, result.taxonomy_path] + ([published.report_path] if published.report_path else [])
        for p in written:
            console.print(f"wrote {p}")
        print(json.dumps({"out": result.out_dir, "transfers": result.table_path, "taxonomy": result.taxonomy_path,
                          "report": published.report_path, "executed": len(st.executed), "skipped": len(st.skipped),
                          "seconds": round(time.perf_counter() - t0, 2),
                          "stage_seconds": {k: round(v, 2) for k, v in st.stage_seconds.items()},
                          "stage_cpu_seconds": {k: round(v, 2) for k, v in st.stage_cpu_seconds.items()}}))


def _apply_mode(spec: Any, *, mode: str, proxy_only: bool, halving_budget: float | None) -> Any:
    """The spec with ``--mode``, ``--proxy-only`` and ``--halving-budget`` written into it (they are
    shortcuts for its ``transfer_jobs`` and ``affinity`` fields)."""
    from taskonomy.contract import ExperimentSpec

    if mode not in ("per-job", "fused", "halving"):
        raise InvalidInputError(f"--mode: unknown transfer mode {mode!r}; known: per-job, fused, halving")
    if proxy_only and mode != "per-job":
        raise InvalidInputError("--proxy-only trains no transfer: it cannot be combined with --mode")
    if halving_budget is not None and mode != "halving":
        raise InvalidInputError("--halving-budget needs --mode halving")
    body = spec.model_dump(mode="json")
    affinity = dict(body["affinity"])
    if proxy_only:
        affinity["estimate"] = "proxy"
    elif mode == "halving":
        affinity["estimate"] = "halving"
        if halving_budget is not None:
            affinity["halving_budget"] = halving_budget
    elif mode == "fused":
        body["transfer_jobs"] = "all"
    body["affinity"] = affinity
    return ExperimentSpec.parse(body, origin="--mode")
