"""A store that cannot be written (issue 17, item 3): ``taskonomy run`` and ``taskonomy submit``
refuse it before any work, in one line naming the store and the problem; an experiment sent to
the workers with such a store (or whose store breaks mid-run, so that recording the failure in it
fails too) ends FAILED with a readable reason in Redis, never stuck RUNNING."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.queue.redisconn import redis_client
from services.queue.state import ExperimentStateStore
from services.queue.submission import submit
from taskonomy.cli import build_app
from tests.services.workers._harness import noop_graph, running_workers, tiny_spec, wait_terminal
from tests.unit._tiny import tiny_spec_file

pytestmark = pytest.mark.integration

BAD_STORES = [("/proc/nostore", "artifact store '/proc/nostore' cannot be written: No such file or directory"),
              ("ftp://nowhere/x", "artifact store 'ftp://nowhere/x': unsupported scheme 'ftp'")]


@pytest.mark.parametrize(("store", "message"), BAD_STORES)
def test_taskonomy_run_checks_the_store_before_any_work(store: str, message: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(build_app(), ["run", "--config", str(tiny_spec_file(tmp_path, ["normal"])),
                                              "--out", str(out), "--store", store, "--quiet", "--no-report"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert sorted(p.name for p in out.iterdir()) == []  # nothing rendered, nothing written


@pytest.mark.parametrize(("store", "message"), BAD_STORES)
def test_taskonomy_submit_checks_the_store_before_sending(store: str, message: str, redis_url: str,
                                                          tmp_path: Path) -> None:
    spec = tmp_path / "exp.json"
    spec.write_text(json.dumps(tiny_spec("s")))
    result = CliRunner().invoke(build_app(), ["submit", str(spec), "--broker", redis_url, "--store", store])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    assert ExperimentStateStore(redis_client(redis_url)).list() == []  # nothing created, nothing sent


@pytest.mark.slow
def test_the_workers_fail_an_experiment_whose_store_cannot_be_written(redis_url: str, tmp_path: Path) -> None:
    state = ExperimentStateStore(redis_client(redis_url))
    broken = tmp_path / "broken"  # its probe can be written, but its folders are files: every job write fails
    broken.mkdir()
    for name in ("noop", "experiments"):
        (broken / name).write_text("not a folder")
    with running_workers(redis_url, tmp_path):
        # sent straight to the workers (no check on this side), as an old client or a script would
        for exp_id, store in (("proc", BAD_STORES[0][0]), ("ftp", BAD_STORES[1][0]), ("broken", str(broken))):
            submit(exp_id, noop_graph(2, tag=exp_id), broker_url=redis_url, store_url=store)
        recs = {e: wait_terminal(state, e, timeout=60) for e in ("proc", "ftp", "broken")}
    assert recs["proc"].state == "FAILED" and BAD_STORES[0][1] in (recs["proc"].error or "")
    assert recs["ftp"].state == "FAILED" and BAD_STORES[1][1] in (recs["ftp"].error or "")
    assert recs["broken"].state == "FAILED" and "File exists" in (recs["broken"].error or ""), recs["broken"]
