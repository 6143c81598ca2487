"""``taskonomy run --mode / --proxy-only / --halving-budget`` are shortcuts for spec fields."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from taskonomy.cli import build_app
from taskonomy.cli.run_cmd import _apply_mode
from taskonomy.contract import preset


@pytest.mark.parametrize("args, message", [
    (["--proxy-only", "--mode", "fused"], "--proxy-only trains no transfer: it cannot be combined with --mode"),
    (["--halving-budget", "0.5"], "--halving-budget needs --mode halving"),
    (["--mode", "bogus"], "--mode: unknown transfer mode 'bogus'; known: per-job, fused, halving"),
])
def test_conflicting_mode_flags_are_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    res = CliRunner().invoke(build_app(), ["run", "--preset", "quick", "--out", str(tmp_path / "o"), *args])
    assert res.exit_code == 2 and message in res.output, res.output
    assert not (tmp_path / "o" / "artifacts").exists()  # refused before any work


def test_the_flags_write_the_spec() -> None:
    spec = preset("quick")
    assert _apply_mode(spec, mode="fused", proxy_only=False, halving_budget=None).transfer_jobs == "all"
    halving = _apply_mode(spec, mode="halving", proxy_only=False, halving_budget=0.4).affinity
    assert (halving.estimate, halving.halving_budget) == ("halving", 0.4)
    assert _apply_mode(spec, mode="per-job", proxy_only=True, halving_budget=None).affinity.estimate == "proxy"
    assert _apply_mode(spec, mode="per-job", proxy_only=False, halving_budget=None) == spec
