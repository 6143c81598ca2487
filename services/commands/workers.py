"""`taskonomy worker / submit / status / cancel / rerun`: the Celery side of the pipeline.

Registered on the core CLI through the ``taskonomy.commands`` entry point. The queueing stack
(celery, redis) is imported inside the commands, so ``taskonomy --help`` does not load it (only the
settings module, for the default broker URL and its check).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from types import ModuleType
from typing import Annotated, Any

import typer

from services.queue.settings import DEFAULT_BROKER_URL, check_broker_url
from taskonomy.cli.common import fail, handle_errors

WORKER_KINDS = ("trainer", "transfer")
#: The newest events ``taskonomy status`` prints (``--json`` has them all).
EVENTS_SHOWN = 10
#: Exit status of ``taskonomy status`` for an experiment that FAILED or was CANCELLED.
EXIT_NOT_SUCCEEDED = 1

Broker = Annotated[str, typer.Option("--broker", envvar="TASKONOMY_BROKER_URL", help="Redis URL of the broker")]


def _services(module: str) -> ModuleType:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise fail(f"the services are not installed ({exc.name} missing): pip install 'taskonomy[services]'") from None


def _submissions(broker: str) -> Any:
    return _services("services.queue.submission").submissions(broker)


def register(app: typer.Typer) -> None:
    @app.command("worker")
    @handle_errors
    def worker(
        kind: Annotated[str, typer.Argument(help="trainer (train + control queues) or transfer (transfer + control)")],
        concurrency: Annotated[int | None, typer.Option("--concurrency", "-c", min=1, max=64,
                                                        help="worker processes (default: one per GPU in "
                                                             "TASKONOMY_GPUS, else 1)")] = None,
        loglevel: Annotated[str | None, typer.Option("--loglevel", "-l", help="DEBUG, INFO, WARNING...")] = None,
        broker: Broker = DEFAULT_BROKER_URL,
    ) -> None:
        """Run a Celery worker (store and limits from the TASKONOMY_* environment).

        It prints where it connects (broker and default store, without passwords) before it starts.
        On SIGTERM a running job gets TASKONOMY_SHUTDOWN_GRACE seconds (default 5), then goes back
        to its queue for another worker.
        """
        if kind not in WORKER_KINDS:
            raise fail(f"unknown worker kind {kind!r}; known: {', '.join(WORKER_KINDS)}")
        check_broker_url(broker)
        _services("services.queue.celery_app").run_worker(
            kind, concurrency=concurrency, loglevel=loglevel, broker_url=broker,
            announce=lambda line: typer.echo(line, err=True))

    @app.command("submit")
    @handle_errors
    def submit(
        spec: Annotated[str, typer.Argument(help="experiment spec file (YAML or JSON; 'preset: quick' allowed)")],
        broker: Broker = DEFAULT_BROKER_URL,
        store: Annotated[str, typer.Option("--store", envvar="TASKONOMY_STORE_URL",
                                           help="artifact store URL the workers share (file:// or s3://)")] = "",
    ) -> None:
        """Submit an experiment to the workers; prints its id.

        The spec, the broker and the store (a supported scheme, reachable, writable) are checked
        before anything is sent.
        """
        from taskonomy.contract import ExperimentSpec
        from taskonomy.store import check_store

        if not store:
            raise fail("--store is required (a file:// path on a shared volume or an s3:// URL)")
        submission = _services("services.queue.submission")
        check_broker_url(broker)
        parsed = ExperimentSpec.from_file(spec)
        check_store(store)
        subs = submission.submissions(broker)
        exp_id = submission.experiment_id(parsed)
        record, sent = subs.submit(exp_id, parsed.model_dump(mode="json"), store_url=store)
        print(exp_id)
        if not sent:
            typer.echo(f"experiment {exp_id} already exists ({record.state}); nothing sent (re-run it with "
                       f"`taskonomy rerun {exp_id}`)", err=True)

    @app.command("status")
    @handle_errors
    def status(
        experiment_id: Annotated[str, typer.Argument(help="id printed by `taskonomy submit`")],
        broker: Broker = DEFAULT_BROKER_URL,
        json_out: Annotated[bool, typer.Option("--json", help="print the record as JSON")] = False,
    ) -> None:
        """Show an experiment's state and per-stage progress (exit status 1 when it FAILED or was CANCELLED)."""
        info = _submissions(broker).status(experiment_id)
        if json_out:
            print(json.dumps(info, indent=2, sort_keys=True))
        else:
            print(f"{info['id']}  {info['state']}")
            for stage, p in info["stages"].items():
                line = f"  {stage:<13} {p['done']:>5}/{p['total']:<5}"
                if p["failed"]:
                    line += f" ({p['failed']} failed)"
                print(line)
            if info["jobs"]:
                print("  jobs: " + ", ".join(f"{k} {v}" for k, v in sorted(info["jobs"].items())))
            progress = info.get("progress_at")
            print(f"  last progress: {f'{max(0.0, time.time() - progress):.0f} s ago' if progress else 'none yet'}"
                  f"; jobs restored after a lost worker: {info.get('jobs_restored', 0)}"
                  f"; jobs retried: {info.get('jobs_retried', 0)}")
            for event in info.get("events", [])[-EVENTS_SHOWN:]:
                when = datetime.fromtimestamp(event["at"], tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
                what = " ".join(str(event[k]) for k in ("job", "reason", "error") if event.get(k))
                print(f"  {when}  {event['event']}{'  ' + what if what else ''}")
            if info.get("error"):
                print(f"  error: {info['error']}")
            for name in ("transfers", "table", "taxonomy"):
                if name in info.get("result", {}):
                    print(f"  {name}: {info['result'][name]}")
        if info["state"] in ("FAILED", "CANCELLED"):
            raise typer.Exit(EXIT_NOT_SUCCEEDED)

    @app.command("cancel")
    @handle_errors
    def cancel(
        experiment_id: Annotated[str, typer.Argument(help="id printed by `taskonomy submit`")],
        broker: Broker = DEFAULT_BROKER_URL,
    ) -> None:
        """Cancel an experiment: CANCELLED at once when none of its jobs runs, else CANCELLING until they end."""
        print(_submissions(broker).cancel(experiment_id).state)

    @app.command("rerun")
    @handle_errors
    def rerun(
        experiment_id: Annotated[str, typer.Argument(help="id printed by `taskonomy submit`")],
        broker: Broker = DEFAULT_BROKER_URL,
        store: Annotated[str | None, typer.Option("--store", help="artifact store (default: its last run's)")] = None,
        force: Annotated[bool, typer.Option("--force", help="also re-run an experiment that is still active (stuck "
                                                            "PENDING, RUNNING or CANCELLING)")] = False,
    ) -> None:
        """Run a finished (or, with --force, a stuck) experiment again; finished jobs are not recomputed."""
        from taskonomy.store import check_store

        if store is not None:
            check_store(store)
        print(_submissions(broker).rerun(experiment_id, store_url=store, force=force).state)
