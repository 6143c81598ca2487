"""The validity report: known answers on the published tables, chance, families, stability, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from taskonomy.affinity import TransferRow, TransferTable, load_table
from taskonomy.selection import TaxonomyProblem
from taskonomy.validity import best_source, validate, winrate_interval
from tests.unit._tiny import tiny_spec_file


def test_the_papers_1k_table_agrees_with_its_16k_table_as_published() -> None:
    """The figures the issue quotes for the paper's own two data regimes: 0.65 and 82%."""
    summary = validate(load_table("paper-1k"), reference="paper-16k").summary()
    assert summary["targets"] == 22
    assert summary["mean_spearman_vs_reference"] == pytest.approx(0.6525, abs=1e-4)
    assert summary["share_best_in_reference_top3"] == pytest.approx(18 / 22)
    assert summary["every_3d_target_best_from_own_family"] is True
    assert summary["share_beats_random"] is None  # no per-image losses in a published table
    assert summary["share_best_from_own_family"] == pytest.approx(16 / 22)


def test_the_papers_own_tables_take_some_best_sources_from_another_family() -> None:
    """The scale of the family figure: 17 of the 22 targets in the 16k table (77%), every 3D one."""
    summary = validate(load_table("paper-16k")).summary()
    assert summary["share_best_from_own_family"] == pytest.approx(17 / 22)
    assert summary["every_3d_target_best_from_own_family"] is True


def test_a_table_agrees_with_itself_and_is_stable_against_itself() -> None:
    t = load_table("paper-16k")
    report = validate(t, reference=t, second=t, problem=TaxonomyProblem(budget=6, max_order=1))
    s = report.summary()
    assert s["mean_spearman_vs_reference"] == pytest.approx(1.0)
    assert s["share_best_in_reference_top3"] == 1.0
    assert s["mean_spearman_between_seeds"] == pytest.approx(1.0)
    assert report.roots_agree is not None and all(report.roots_agree.values()) and s["roots_agree_at_budget_6"]


def _table(affinities: dict[str, dict[str, float]]) -> TransferTable:
    rows = [TransferRow(target=t, sources=(s,), kind="first_order", affinity=a, gain=0.5, quality=0.5)
            for t, by_source in affinities.items() for s, a in by_source.items()]
    return TransferTable.from_rows(rows)


def test_families_reversed_rankings_and_beating_chance() -> None:
    ours = _table({"normal": {"depth_zbuffer": 0.5, "reshading": 0.3, "autoencoding": 0.1, "edge_texture": 0.1},
                   "autoencoding": {"depth_zbuffer": 0.4, "normal": 0.3, "edge_texture": 0.2, "reshading": 0.1}})
    ref = _table({"normal": {"depth_zbuffer": 0.4, "reshading": 0.3, "autoencoding": 0.2, "edge_texture": 0.1},
                  "autoencoding": {"depth_zbuffer": 0.1, "normal": 0.2, "edge_texture": 0.3, "reshading": 0.4}})
    rng = np.random.default_rng(0)
    base = rng.uniform(1, 2, 400)
    losses = {"normal": {"depth_zbuffer": base - 0.3, "random": base},  # wins on every image
              "autoencoding": {"depth_zbuffer": base + rng.normal(0, 0.1, 400), "random": base}}  # a coin flip
    report = validate(ours, losses=losses, reference=ref, bootstrap=500)
    by = {t.target: t for t in report.targets}
    assert best_source(ours, "normal") == "depth_zbuffer"
    assert by["normal"].same_family is True and by["normal"].best_in_reference_top is True
    assert by["normal"].spearman_vs_reference == pytest.approx(0.9486, abs=1e-3)  # ties in ours
    assert by["autoencoding"].same_family is False and by["autoencoding"].spearman_vs_reference == -1.0
    assert by["normal"].beats_random is True and by["normal"].winrate_vs_random == 1.0
    assert by["autoencoding"].beats_random is False
    assert by["autoencoding"].winrate_vs_random_low < 0.5 < by["autoencoding"].winrate_vs_random_high
    assert report.summary()["share_beats_random"] == 0.5


def test_winrate_interval_counts_ties_as_half_and_is_seeded() -> None:
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 2.0, 1.0, 5.0])
    rate, lo, hi = winrate_interval(a, b, bootstrap=0, seed=0)
    assert rate == lo == hi == pytest.approx((1 + 0.5 + 0 + 1) / 4)
    assert winrate_interval(a, b, bootstrap=200, seed=3) == winrate_interval(a, b, bootstrap=200, seed=3)


@pytest.mark.slow
def test_validate_cli_on_a_tiny_run_with_a_second_seed(tmp_path: Path) -> None:
    cfg = tiny_spec_file(tmp_path, ["normal", "depth_zbuffer", "reshading"])
    out = tmp_path / "run"
    exe = [sys.executable, "-m", "taskonomy"]
    subprocess.run([*exe, "run", "--config", str(cfg), "--out", str(out), "--quiet"], check=True, capture_output=True)
    assert (out / "validity.json").is_file()  # the report computes the run's own figures
    assert "Is the taxonomy right?" in (out / "report.html").read_text()
    res = subprocess.run([*exe, "validate", str(out), "--seeds", "2", "--bootstrap", "50", "--json", "--quiet"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    body = json.loads(res.stdout)
    assert (out / "seed-1" / "transfers.csv").is_file()
    assert body["summary"]["targets"] == 3
    assert set(body["summary"]["roots_agree"]) == {"2", "3", "4", "5", "6", "7", "8"}
    assert all(t["winrate_vs_random"] is not None for t in body["targets"])
    assert json.loads((out / "validity.json").read_text())["summary"] == body["summary"]
    bad = subprocess.run([*exe, "validate", str(tmp_path / "nope")], capture_output=True, text=True)
    assert bad.returncode == 2 and "not a directory" in bad.stderr and "Traceback" not in bad.stderr
