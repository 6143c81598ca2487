"""The validity report: known answers on the published tables, chance, families, stability, the CLI."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from taskonomy.affinity import TransferRow, TransferTable, load_table
from taskonomy.selection import TaxonomyProblem
from taskonomy.validity import SUMMARY_KEYS, best_source, validate, winrate_interval
from tests.unit._tiny import tiny_spec_file

_spec = importlib.util.spec_from_file_location("taskonomy_benchmark_validity",
                                               Path(__file__).resolve().parents[2] / "benchmarks" / "validity.py")
assert _spec is not None and _spec.loader is not None
BENCH = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(BENCH)


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
    low, high = by["autoencoding"].winrate_vs_random_low, by["autoencoding"].winrate_vs_random_high
    assert low is not None and high is not None and low < 0.5 < high
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
    summary = body["summary"]
    assert set(summary) == set(SUMMARY_KEYS)
    assert summary["reproduced_targets"] == 3 and summary["unreproduced_targets"] == []
    assert summary["share_higher_order_beats_first_order"] is None  # a first-order run: n/a
    assert summary["share_first_order_gain_above_half"] is not None and summary["tree_tasks"] == 3
    assert summary["random_policies"] == 1000 and set(summary["random_policies_gain_percentile"]) == {
        str(b) for b in range(1, 9)}
    assert len(body["random_policies"]) == 8 and body["similarity_tree"]["families"] == ["3d"] * 3
    text = subprocess.run([*exe, "validate", str(out), "--bootstrap", "50"], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "250"})
    assert text.returncode == 0, text.stderr
    shown = text.stdout + text.stderr  # rich's console writes to stderr
    assert "agreement share of papers own" in shown and "random feasible policies" in shown
    assert "The paper's own claims" in (out / "report.html").read_text()
    bad = subprocess.run([*exe, "validate", str(tmp_path / "nope")], capture_output=True, text=True)
    assert bad.returncode == 2 and "not a directory" in bad.stderr and "Traceback" not in bad.stderr
    few = subprocess.run([*exe, "validate", str(out), "--policies", "10"], capture_output=True, text=True)
    assert few.returncode == 2 and "--policies" in few.stderr and "Traceback" not in few.stderr
    # the benchmark's goals on the two finished runs (its path after running a preset)
    bench = subprocess.run([sys.executable, "-m", "benchmarks.validity", "--runs", str(out), str(out / "seed-1"),
                            "--goals", "quick", "--bootstrap", "50"], capture_output=True, text=True,
                           cwd=Path(__file__).resolve().parents[2])
    assert bench.returncode == 0, bench.stderr
    result = json.loads(bench.stdout.strip().splitlines()[-1])
    assert result["goals_for"] == "quick" and set(result["goals_met"]) == set(BENCH.GOALS["quick"])
    assert result["goals_met"]["seconds"] is None  # finished runs: no time measured
    assert "goals of issue 22, preset quick" in bench.stderr and "NOT MET" in bench.stderr


# -- the paper's own claims ------------------------------------------------------------------------

MULTI_VIEW = ("egomotion", "fixated_pose", "nonfixated_pose", "point_matching")


def _restricted(name: str, tasks: tuple[str, ...]) -> TransferTable:
    """A published table restricted to ``tasks`` as targets and sources, as a run of them measures it."""
    t = load_table(name).to_our_names()
    return TransferTable.from_rows(r for r in t if r.target in tasks and all(s in tasks or s == "self"
                                                                              for s in r.sources))


def test_the_paper_reproduces_18_of_its_22_targets_and_not_the_pose_rows() -> None:
    """The issue's figures: the paper's 1k vs 16k is 0.65 over 22 targets, -0.40 to -0.11 on the four
    multi-view rows, 0.86 on the other 18; a table that is the paper's 1k agrees at 100% of that."""
    report = validate(load_table("paper-1k"))
    by = {t.target: t for t in report.targets}
    paper = {t: v.paper_1k_vs_16k for t, v in by.items()}
    assert float(np.mean([v for v in paper.values() if v is not None])) == pytest.approx(0.65, abs=0.005)
    assert len(paper) == 22 and None not in paper.values()
    for t in MULTI_VIEW:
        rho = paper[t]
        assert by[t].paper_reproduces is False and rho is not None and -0.40 <= rho <= -0.11
    s = report.summary()
    assert s["reproduced_targets"] == 18 and sorted(s["unreproduced_targets"]) == sorted(MULTI_VIEW)
    assert s["paper_1k_vs_16k_reproduced"] == pytest.approx(0.8556, abs=1e-4)
    assert s["mean_spearman_vs_paper_16k_reproduced"] == pytest.approx(s["paper_1k_vs_16k_reproduced"])
    assert s["agreement_share_of_papers_own"] == pytest.approx(1.0)
    assert s["paper_1k_vs_16k_unreproduced"] == pytest.approx(-0.2615, abs=1e-4)


def test_on_the_quick_presets_targets_the_paper_agrees_with_itself_at_088() -> None:
    quick = ("autoencoding", "denoising", "edge_texture", "depth_zbuffer", "depth_euclidean", "normal", "reshading",
             "principal_curvature", "segment_semantic")
    s = validate(_restricted("paper-1k", quick)).summary()
    assert s["targets"] == 9 and s["reproduced_targets"] == 9 and s["unreproduced_targets"] == []
    assert s["paper_1k_vs_16k_reproduced"] == pytest.approx(0.8810, abs=1e-4)  # over the 8 other quick sources
    assert s["agreement_share_of_papers_own"] == pytest.approx(1.0)
    # the 16k table itself agrees with 16k perfectly: 1 / 0.881 of the paper's own agreement
    own = validate(_restricted("paper-16k", quick)).summary()
    assert own["agreement_share_of_papers_own"] == pytest.approx(1 / 0.8810, abs=1e-3)


def test_reversed_affinities_have_a_negative_share_of_the_papers_agreement() -> None:
    t = _restricted("paper-16k", ("normal", "depth_zbuffer", "reshading", "autoencoding", "edge_texture"))
    flipped = TransferTable.from_rows(
        TransferRow(target=r.target, sources=r.sources, kind=r.kind, gain=r.gain, quality=r.quality,
                    affinity=(1 - r.affinity) if r.affinity is not None and r.kind == "first_order" else r.affinity)
        for r in t)
    s = validate(flipped).summary()
    assert s["mean_spearman_vs_paper_16k_reproduced"] == pytest.approx(-1.0)
    assert s["agreement_share_of_papers_own"] is not None and s["agreement_share_of_papers_own"] < 0


def test_share_of_first_order_transfers_with_gain_above_half_as_published() -> None:
    """The paper: 57% of first-order transfers beat training from scratch at 16k, 45% at 1k."""
    assert validate(load_table("paper-16k")).summary()["share_first_order_gain_above_half"] == pytest.approx(
        316 / 550)
    assert validate(load_table("paper-1k")).summary()["share_first_order_gain_above_half"] == pytest.approx(
        246 / 550)


def test_higher_order_beats_first_order_on_the_published_tables_and_is_na_without() -> None:
    s16, s1 = validate(load_table("paper-16k")).summary(), validate(load_table("paper-1k")).summary()
    assert s16["share_higher_order_beats_first_order"] == 1.0
    assert s1["share_higher_order_beats_first_order"] == pytest.approx(21 / 22)
    first_only = _restricted("paper-16k", ("normal", "depth_zbuffer", "reshading"))
    first_only = TransferTable.from_rows(r for r in first_only if r.kind != "higher_order")
    assert validate(first_only).summary()["share_higher_order_beats_first_order"] is None


def test_the_task_similarity_tree_and_its_reference_in_the_report() -> None:
    report = validate(load_table("paper-1k"))
    s = report.summary()
    assert s["tree_tasks"] == 25
    assert s["tree_ari_vs_families"] == pytest.approx(0.6592, abs=1e-4)
    assert s["paper_16k_tree_ari_vs_families"] == pytest.approx(0.6857, abs=1e-4)  # same tasks: all of them
    assert s["paper_16k_tree_ari_vs_families_all_tasks"] == pytest.approx(0.6857, abs=1e-4)
    tree = report.to_dict()["similarity_tree"]
    assert len(tree["linkage"]) == 24 and len(tree["families"]) == 25 and max(tree["clusters"]) == 4


def test_significance_test_in_the_report_and_every_summary_key_documented() -> None:
    report = validate(load_table("paper-1k"), problem=TaxonomyProblem(max_order=1), policies=200)
    s = report.summary()
    assert list(s) == list(SUMMARY_KEYS)
    assert s["random_policies"] == 200 and set(s["random_policies_gain_percentile"]) == {str(b) for b in range(1, 9)}
    assert s["random_policies_min_percentile"] == min(
        [*s["random_policies_gain_percentile"].values(), *s["random_policies_quality_percentile"].values()])
    assert s["random_policies_min_percentile"] >= 95  # the paper's 1k taxonomy beats random policies
    body = json.loads(json.dumps(report.to_dict()))  # validity.json is plain JSON
    assert len(body["random_policies"]) == 8 and body["random_policies"][0]["policies"] == 200
    assert validate(load_table("paper-1k")).summary()["random_policies_min_percentile"] is None  # no problem


def test_the_benchmarks_goals_table_judges_every_goal_of_its_preset() -> None:
    """The paper's own 1k table, judged by issue 22's goals: what it meets and what it cannot show."""
    s = validate(load_table("paper-1k"), problem=TaxonomyProblem(max_order=1), policies=200).summary()
    rows = {r["key"]: r for r in BENCH.goals_table(s, "standard", seconds=3000.0)}
    assert list(rows) == [key for _l, key, _o, _g in BENCH.GOAL_ROWS["standard"]]
    assert rows["agreement_share_of_papers_own"]["met"] is True  # 1.0 >= 0.75
    assert rows["share_best_in_reference_top3"]["met"] is True  # 0.82 >= 0.75
    assert rows["tree_ari_vs_families"]["met"] is True and rows["random_policies_min_percentile"]["met"] is True
    assert rows["share_beats_random"]["met"] is False  # no per-image losses: not measured, not met
    assert rows["seconds"]["met"] is False and rows["seconds"]["value"] == 3000.0
    quick = {r["key"]: r for r in BENCH.goals_table(s, "quick", seconds=None)}
    assert quick["share_best_in_reference_top3"]["met"] is False  # 0.82 < 0.85
    assert quick["every_3d_target_best_from_own_family"]["met"] is True and quick["seconds"]["met"] is None
    assert "tree_ari_vs_families" not in quick  # no goal for quick
    assert json.loads(json.dumps(BENCH.GOALS))["quick"]["roots_agree_at_budget_6"] == {"op": "is", "goal": True}


def test_the_benchmark_has_help() -> None:
    res = subprocess.run([sys.executable, "-m", "benchmarks.validity", "--help"], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert res.returncode == 0 and "--runs" in res.stdout and "--goals" in res.stdout


def test_the_papers_16k_table_on_the_quick_presets_tasks_as_a_reference() -> None:
    """What the paper's own 16k numbers give on quick's 9 tasks: the tree matches the families at
    0.88, and the taxonomy (chosen by affinity) is below the 95th percentile of random policies by
    gain at budgets 1 and 2 (21st, 80th) and by quality at 1 and 2 (22nd, 24th): the quick goal of
    >= 95 at every budget 1-8 is stricter than the paper's own data meets there."""
    quick = ("autoencoding", "denoising", "edge_texture", "depth_zbuffer", "depth_euclidean", "normal", "reshading",
             "principal_curvature", "segment_semantic")
    s = validate(_restricted("paper-16k", quick), problem=TaxonomyProblem(max_order=1)).summary()
    assert s["tree_ari_vs_families"] == pytest.approx(0.8754, abs=1e-4) == s["paper_16k_tree_ari_vs_families"]
    gain, quality = s["random_policies_gain_percentile"], s["random_policies_quality_percentile"]
    assert (gain["1"], gain["2"], quality["1"], quality["2"]) == pytest.approx((21.2, 80.0, 21.8, 23.7), abs=0.05)
    assert all(gain[str(b)] >= 95 and quality[str(b)] >= 95 for b in range(3, 9))
    assert s["random_policies_min_percentile"] == pytest.approx(21.2, abs=0.05)
