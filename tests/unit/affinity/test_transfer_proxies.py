"""LogME and H-score: the formulas, their invariances, and source ranking on every target kind."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from taskonomy.affinity import TransferTable
from taskonomy.affinity.transfer_proxies import (
    ProxyCache,
    ProxyMethod,
    Spectrum,
    h_score,
    logme,
    proxy_affinities,
    proxy_rows,
    proxy_scores,
    transfer_proxy,
)
from taskonomy.cli import build_app
from taskonomy.errors import InvalidInputError
from taskonomy.tasks import get_task
from taskonomy.training.synthetic import synthetic_split
from tests.unit._tiny import tiny_spec_file


def _evidence(f: np.ndarray, y: np.ndarray, a: float, b: float) -> float:
    """The LogME evidence per sample written out with the full D x D matrix A."""
    n, d = f.shape
    big_a = a * np.eye(d) + b * f.T @ f
    m = b * np.linalg.solve(big_a, f.T @ y)
    return float((n / 2 * np.log(b) + d / 2 * np.log(a) - n / 2 * np.log(2 * np.pi)
                  - b / 2 * np.sum((f @ m - y) ** 2) - a / 2 * m @ m - 0.5 * np.linalg.slogdet(big_a)[1]) / n)


@pytest.mark.parametrize(("n", "d"), [(60, 8), (15, 30)])  # more samples than dims, and fewer
def test_logme_is_the_maximised_evidence(n: int, d: int) -> None:
    rng = np.random.default_rng(n)
    f = rng.standard_normal((n, d))
    y = f @ rng.standard_normal(d) * 0.5 + rng.standard_normal(n)
    value = logme(f, y)
    grid = np.logspace(-3, 3, 49)
    best = max(_evidence(f, y, a, b) for a in grid for b in grid)
    assert best - 1e-9 <= value <= best + 0.01  # the fixed point is the maximum the grid approaches


def test_logme_averages_columns_and_prefers_informative_features() -> None:
    rng = np.random.default_rng(0)
    f = rng.standard_normal((80, 6))
    y1, y2 = f[:, 0] + 0.1 * rng.standard_normal(80), f[:, 1] - f[:, 2] + 0.3 * rng.standard_normal(80)
    assert logme(f, np.stack([y1, y2], 1)) == pytest.approx((logme(f, y1) + logme(f, y2)) / 2)
    assert logme(f, y1) > logme(rng.standard_normal((80, 6)), y1)


def test_h_score_invariances_and_ranking() -> None:
    rng = np.random.default_rng(1)
    f = rng.standard_normal((200, 5))
    labels = (f[:, 0] > 0).astype(np.int64) + 2 * (f[:, 1] > 0)
    q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    # Invariant to rotations, scalings and shifts (the Ledoit-Wolf target (tr/D)·I moves along).
    assert h_score(2.5 * f @ q + 4.0, labels) == pytest.approx(h_score(f, labels), rel=1e-8)
    assert h_score(f, labels) > 5 * h_score(rng.standard_normal((200, 5)), labels)
    with pytest.raises(InvalidInputError, match="integers"):
        h_score(f, labels.astype(np.float64))


@pytest.mark.parametrize(("task", "method"), [
    (task, method) for task in ("normal", "segment_semantic", "segment_unsup2d", "class_scene",
                                "point_matching") for method in ("logme", "hscore")
    # H-score's pixel pairs of one feature cell carry no signal at this tiny size; LogME covers embeddings.
    if (task, method) != ("segment_unsup2d", "hscore")])
def test_informative_source_outranks_noise(task: str, method: ProxyMethod) -> None:
    t = get_task(task)
    n, size = 96, 16
    data = synthetic_split([t], n, size, 3)
    rng = np.random.default_rng(4)
    # An "informative" representation: the first input image average-pooled to the feature grid.
    img = data[t.inputs[0]].reshape(n, 3, size // 8, 8, size // 8, 8).mean(axis=(3, 5))
    good = {k: np.concatenate([img, rng.standard_normal((n, 5, 2, 2)).astype(np.float32) * 0.1], 1)
            for k in t.inputs}
    noise = {k: rng.standard_normal((n, 8, 2, 2)).astype(np.float32) for k in t.inputs}
    scores = proxy_scores(t, {"good": [good], "noise": [noise]}, data, method=method, pixels_per_image=8)
    assert scores["good"] > scores["noise"]
    aff = proxy_affinities(scores)
    assert sum(aff.values()) == pytest.approx(1.0) and aff["good"] > aff["noise"]


def _logme_by_svd(f: np.ndarray, y: np.ndarray) -> float:
    """LogME through a plain SVD of F (the textbook route), for checking :class:`Spectrum`."""
    n, d = f.shape
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    z = u.T @ y
    rest = max(float(y @ y - z @ z), 0.0)
    a = b = 1.0
    for _ in range(500):
        m = b * s * z / (a + b * s * s)
        gamma = float((b * s * s / (a + b * s * s)).sum())
        a, b = gamma / float(m @ m), (n - gamma) / (float(((s * m - z) ** 2).sum()) + rest)
    m = b * s * z / (a + b * s * s)
    res2 = float(((s * m - z) ** 2).sum()) + rest
    logdet = float(np.log(a + b * s * s).sum()) + (d - s.shape[0]) * np.log(a)
    return float((n / 2 * np.log(b) + d / 2 * np.log(a) - n / 2 * np.log(2 * np.pi) - b / 2 * res2
                  - a / 2 * float(m @ m) - logdet / 2) / n)


@pytest.mark.parametrize(("n", "d", "dead"), [(300, 12, 0), (300, 12, 3), (20, 50, 0)])
def test_spectrum_logme_equals_the_svd_route(n: int, d: int, dead: int) -> None:
    """The Gram eigendecomposition gives the SVD's LogME: tall, rank-deficient and wide features."""
    rng = np.random.default_rng(n + d + dead)
    f = rng.standard_normal((n, d))
    f[:, :dead] = 0.0  # constant channels standardise to zero columns: zero singular values
    y = f @ rng.standard_normal(d) * 0.3 + rng.standard_normal(n)
    y -= y.mean()
    assert logme(Spectrum.of(f), y) == pytest.approx(_logme_by_svd(f, y), rel=1e-6, abs=1e-8)
    assert logme(f, y) == logme(Spectrum.of(f), y)


def test_cache_shares_rows_across_targets_without_changing_scores() -> None:
    """One source scored for several targets: the cache builds its rows and spectrum once, same scores."""
    tasks = [get_task(t) for t in ("normal", "depth_zbuffer", "reshading", "segment_semantic", "class_scene")]
    n, size = 48, 16
    data = synthetic_split(tasks, n, size, 5)
    rng = np.random.default_rng(6)
    src = {"rgb": rng.standard_normal((n, 8, 2, 2)).astype(np.float32)}
    cache = ProxyCache()
    for t in tasks:
        for method in ("logme", "hscore"):
            plain = transfer_proxy(t, [src], data, method=method, pixels_per_image=8)  # type: ignore[arg-type]
            cached = transfer_proxy(t, [src], data, method=method, pixels_per_image=8,  # type: ignore[arg-type]
                                    cache=cache)
            assert cached == pytest.approx(plain, rel=1e-12, abs=1e-12), (t.name, method)
    # dense pixel rows (shared by 4 targets) and global rows: two entries, two spectra
    assert len(cache._rows) == 2 and len(cache._spectra) == 2
    # another pixel sample is another entry
    transfer_proxy(tasks[0], [src], data, pixels_per_image=4, cache=cache)
    assert len(cache._rows) == 3


def test_rows_shapes_and_errors() -> None:
    t = get_task("normal")
    data = synthetic_split([t], 10, 16, 0)
    feats = {"rgb": np.ones((10, 8, 2, 2), np.float32)}
    f, y, discrete = proxy_rows(t, [feats, feats], data, pixels_per_image=5)
    assert f.shape == (50, 9 * 16) and y.shape == (50, 3) and not discrete
    with pytest.raises(InvalidInputError, match="unknown proxy method"):
        transfer_proxy(t, [feats], data, method="bogus")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="features must be a non-empty sequence"):
        proxy_rows(t, [], data)
    with pytest.raises(InvalidInputError, match="images"):
        proxy_rows(t, [{"rgb": np.ones((9, 8, 2, 2), np.float32)}], data)


@pytest.mark.slow
def test_run_proxy_only_writes_table_and_taxonomy(tmp_path: Path) -> None:
    """``taskonomy run --proxy-only`` on a tiny world: features only, every candidate scored."""
    cfg = tiny_spec_file(tmp_path, ["normal", "depth_zbuffer", "reshading"], transfer_images=24, budget=2,
                         max_order=2, beam=2)
    out = tmp_path / "out"
    res = CliRunner().invoke(build_app(), ["run", "--config", str(cfg), "--out", str(out), "--proxy-only", "--quiet"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    table = TransferTable.read(out / "transfers.csv")
    assert sorted(table.targets()) == ["depth_zbuffer", "normal", "reshading"]
    for t in table.targets():
        rows = table.rows_for(t)
        # first order from the 2 others, own, random, one pair of the beam, self
        assert len(rows) == 6
        assert {r.kind for r in rows} >= {"first_order", "higher_order", "own_encoder_small_data", "random_encoder",
                                          "self_full_supervision"}
        assert sum(r.affinity or 0.0 for r in rows) == pytest.approx(1.0)
        assert all(r.gain is None and r.quality is None for r in rows)
    with open(out / "proxies.csv") as fh:
        scored = list(csv.DictReader(fh))
    assert len(scored) == 18 and {r["method"] for r in scored} == {"logme"}
    tax = json.loads((out / "taxonomy.json").read_text())
    assert tax["status"] == "OPTIMAL" and tax["source"] == "proxy:logme" and summary["roots"] == tax["roots"]
    assert not (out / "report.html").exists()


@pytest.mark.slow
def test_report_shows_proxy_vs_trained(tmp_path: Path) -> None:
    """A full tiny run's report correlates LogME with the trained affinities per target."""
    spec = {"tasks": ["normal", "depth_zbuffer", "reshading", "edge_texture"],
            "dataset": {"kind": "world", "size": 16, "seed": 3}, "splits": {"train": 32, "transfer": 16, "test": 8},
            "model": {"width": 8, "rep_channels": 4, "blocks": 1, "transfer_width": 8, "hidden": 16},
            "train": {"epochs": 1, "batch_size": 16}, "transfer": {"epochs": 1, "batch_size": 16}, "budget": 2}
    cfg = tmp_path / "spec.json"
    cfg.write_text(json.dumps(spec))
    out = tmp_path / "out"
    res = CliRunner().invoke(build_app(), ["run", "--config", str(cfg), "--out", str(out), "--quiet",
                                           "--threads", "1"])
    assert res.exit_code == 0, res.output
    page = (out / "report.html").read_text()
    assert "Training-free proxies vs trained transfers" in page
    assert (out / "proxy_vs_trained.png").stat().st_size > 1000
