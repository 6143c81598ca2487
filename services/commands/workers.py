"""`taskonomy worker`, `taskonomy submit`, `taskonomy status`: the Celery side of the pipeline.

The core never imports the queueing stack: these commands call functions in ``services.*``
(installed with the ``services`` extra), imported inside the command bodies.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from taskonomy.cli._common import fail, handle_errors

WORKER_KINDS = ("trainer", "transfer")


def _services(module: str) -> object:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise fail(f"the services are not installed ({exc.name} missing): pip install 'taskonomy[services]'") from None


def register(app: typer.Typer) -> None:
    @app.command("worker")
    @handle_errors
    def worker(
        kind: Annotated[str, typer.Argument(help="trainer (train + control queues) or transfer (transfer + control)")],
        concurrency: Annotated[int | None, typer.Option("--concurrency", "-c", min=1, max=64,
                                                        help="worker processes (default: one per GPU in "
                                                             "TASKONOMY_GPUS, else 1)")] = None,
        loglevel: Annotated[str | None, typer.Option("--loglevel", "-l", help="DEBUG, INFO, WARNING...")] = None,
    ) -> None:
        """Run a Celery worker (broker, store and limits from the TASKONOMY_* environment)."""
        if kind not in WORKER_KINDS:
            raise fail(f"unknown worker kind {kind!r}; known: {', '.join(WORKER_KINDS)}")
        celery_app = _services("services.common.celery_app")
        celery_app.run_worker(kind, concurrency=concurrency, loglevel=loglevel)  # type: ignore[attr-defined]

    @app.command("submit")
    @handle_errors
    def submit(
        spec: Annotated[str, typer.Argument(help="experiment spec file (YAML or JSON; 'preset: quick' allowed)")],
        broker: Annotated[str, typer.Option("--broker", envvar="TASKONOMY_BROKER_URL",
                                            help="Redis URL of the broker")] = "redis://localhost:6379/0",
        store: Annotated[str, typer.Option("--store", envvar="TASKONOMY_STORE_URL",
                                           help="artifact store URL the workers share (file:// or s3://)")] = "",
    ) -> None:
        """Submit an experiment to the workers; prints its id."""
        if not store:
            raise fail("--store is required (a file:// path on a shared volume or an s3:// URL)")
        if not broker.startswith(("redis://", "rediss://", "unix://")):
            raise fail(f"--broker must be a redis:// URL, got {broker!r}")
        executor = _services("services.common.executor")
        exp_id, sent = executor.submit_experiment(spec, broker_url=broker, store_url=store)  # type: ignore[attr-defined]
        print(exp_id)
        if not sent:
            typer.echo(f"experiment {exp_id} is already pending or running", err=True)

    @app.command("status")
    @handle_errors
    def status(
        experiment_id: Annotated[str, typer.Argument(help="id printed by `taskonomy submit`")],
        broker: Annotated[str, typer.Option("--broker", envvar="TASKONOMY_BROKER_URL",
                                            help="Redis URL of the broker")] = "redis://localhost:6379/0",
        json_out: Annotated[bool, typer.Option("--json", help="print the record as JSON")] = False,
    ) -> None:
        """Show an experiment's state and per-stage progress."""
        executor = _services("services.common.executor")
        info = executor.experiment_status(experiment_id, broker_url=broker)  # type: ignore[attr-defined]
        if json_out:
            print(json.dumps(info, indent=2, sort_keys=True))
            return
        print(f"{info['id']}  {info['state']}")
        for stage, p in info["stages"].items():
            line = f"  {stage:<13} {p['done']:>5}/{p['total']:<5}"
            if p["failed"]:
                line += f" ({p['failed']} failed)"
            print(line)
        if info["jobs"]:
            print("  jobs: " + ", ".join(f"{k} {v}" for k, v in sorted(info["jobs"].items())))
        if info.get("error"):
            print(f"  error: {info['error']}")
        for name in ("transfers", "table", "taxonomy"):
            if name in info.get("result", {}):
                print(f"  {name}: {info['result'][name]}")
