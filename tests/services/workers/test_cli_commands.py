"""The services' commands as an operator uses them (issue 17, item 9): `taskonomy status` exits 1
for a FAILED or CANCELLED experiment and 2 (one line) for a bad broker URL, and piping it into
`head` prints no "Broken pipe"; `taskonomy solve` on a directory says what it accepts; `taskonomy
cancel` and `rerun` reach the experiment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.queue.redisconn import redis_client
from services.queue.state import ExperimentStateStore
from taskonomy.cli import build_app

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def _cli(*args: str) -> object:
    return CliRunner().invoke(build_app(), list(args))


def test_status_exit_codes(redis_url: str) -> None:
    state = ExperimentStateStore(redis_client(redis_url))
    for exp_id, st in (("ok", "SUCCEEDED"), ("running", "RUNNING"), ("bad", "FAILED"), ("gone", "CANCELLED")):
        state.create(exp_id, {"kind": "noop"})
        state.set_state(exp_id, st, error="job x failed: boom" if st == "FAILED" else None)
    codes = {e: _cli("status", e, "--broker", redis_url).exit_code for e in ("ok", "running", "bad", "gone")}
    assert codes == {"ok": 0, "running": 0, "bad": 1, "gone": 1}
    failed = _cli("status", "bad", "--broker", redis_url)
    assert "FAILED" in failed.stdout and "error: job x failed: boom" in failed.stdout
    for broker in ("http://x", "nonsense"):
        res = _cli("status", "ok", "--broker", broker)
        assert res.exit_code == 2, res.output
        assert res.stderr.strip().splitlines() == [f"error: --broker must be a redis://, rediss:// or unix:// URL, "
                                                   f"got {broker!r}"]


def test_status_piped_into_head_prints_no_broken_pipe(redis_url: str) -> None:
    state = ExperimentStateStore(redis_client(redis_url))
    state.create("big", {"kind": "noop"})
    state.set_state("big", "RUNNING")
    for i in range(2000):  # far more output than a pipe buffer holds
        state.add_stage_jobs("big", f"stage-{i:04d}", 3)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(f"{sys.executable} -m taskonomy status big --broker {redis_url} | head -1", shell=True,
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert run.stdout.strip() == "big  RUNNING"
    assert run.stderr == "", run.stderr


def test_cancel_and_rerun_commands(redis_url: str) -> None:
    state = ExperimentStateStore(redis_client(redis_url))
    state.create("e", {"kind": "noop"})
    state.set_state("e", "RUNNING")
    busy = _cli("rerun", "e", "--broker", redis_url)
    assert busy.exit_code == 2 and "force the re-run" in busy.stderr
    cancelled = _cli("cancel", "e", "--broker", redis_url)
    assert cancelled.exit_code == 0 and cancelled.stdout.strip() == "CANCELLED"  # nothing of it runs
    rerun = _cli("rerun", "e", "--broker", redis_url)
    assert rerun.exit_code == 0 and rerun.stdout.strip() == "PENDING"
    assert state.get("e").state == "PENDING" and not state.get("e").cancel_requested
    assert redis_client(redis_url).llen("control") == 1  # the start, sent by name
    unknown = _cli("cancel", "nope", "--broker", redis_url)
    assert unknown.exit_code == 2 and "no experiment 'nope'" in unknown.stderr


def test_solve_on_a_directory_says_what_it_accepts(tmp_path: Path) -> None:
    res = _cli("solve", str(tmp_path))
    assert res.exit_code == 2
    assert "is a directory without transfers.csv" in res.stderr and "format=" not in res.stderr
    # a `taskonomy run --out` directory: its transfers.csv is the table
    (tmp_path / "transfers.csv").write_bytes((ROOT / "taskonomy/data/published/transfers_base_long.csv").read_bytes())
    import json

    ok, ref = (_cli("solve", t, "--budget", "2", "--json") for t in (str(tmp_path), "paper-base"))
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["roots"] == json.loads(ref.stdout)["roots"]
