"""ComputeAffinity over a real server: the core's numbers, from losses or from win rates."""

from __future__ import annotations

from typing import Any

import grpc
import numpy as np
import pytest

from services.solver.client import SolverClient, SolverError
from services.solver.server import create_server
from taskonomy.affinity import target_affinity, win_rate_matrix

pytestmark = pytest.mark.integration

KINDS = ["self_full_supervision", "own_encoder_small_data", "first_order", "higher_order", "random_encoder",
         "pixels_scratch_baseline"]
SOURCES = [["self"], ["t"], ["a"], ["a", "b"], ["random"], ["pixels"]]


def _losses(seed: int = 0, images: int = 300) -> np.ndarray:
    rng = np.random.default_rng(seed)
    quality = np.array([0.2, 0.5, 0.4, 0.3, 0.9, 0.7])[:, None]  # lower = better on average
    losses = quality + rng.normal(0, 0.3, size=(len(KINDS), images))
    losses[3, 5] = np.nan  # one missing measurement
    return losses


def _target(values: np.ndarray, key: str) -> dict[str, Any]:
    return {"target": "t", "candidates": [
        {"sources": s, "kind": k, key: row} for s, k, row in zip(SOURCES, KINDS, values, strict=True)
    ]}


def test_losses_give_the_cores_statistics(client: SolverClient) -> None:
    losses = _losses()
    [got] = client.compute_affinity([_target(losses, "losses")], bootstrap=40, seed=3, confidence=0.9)
    ref = target_affinity(losses, self_index=0, pixels_index=5, bootstrap=40, seed=3, confidence=0.9)
    assert got["target"] == "t"
    assert got["consistency_ratio"] == ref.consistency_ratio
    cands = got["candidates"]
    assert [c["kind"] for c in cands] == KINDS and [c["sources"] for c in cands] == SOURCES
    for name in ("affinity", "gain", "quality", "affinity_low", "affinity_high", "gain_low", "quality_high"):
        expected = getattr(ref, name)
        assert expected is not None
        for i, c in enumerate(cands):
            assert c[name] == (None if np.isnan(expected[i]) else expected[i]), (name, i)
    assert np.array([c["win_rates"] for c in cands]).tolist() == ref.win_rates.tolist()
    assert cands[5]["affinity"] is None  # pixels stays outside the tournament
    assert sum(c["affinity"] for c in cands[:5]) == pytest.approx(1.0)
    assert cands[0]["affinity"] == max(c["affinity"] for c in cands[:5])  # self is best on average
    assert all(c["affinity_low"] <= c["affinity"] <= c["affinity_high"] for c in cands[:5])


def test_win_rates_give_the_same_affinities_as_losses(client: SolverClient) -> None:
    losses = _losses(seed=1)
    from_losses, from_w = client.compute_affinity([_target(losses, "losses")])[0], client.compute_affinity(
        [_target(win_rate_matrix(losses), "win_rates")])[0]
    assert from_w["consistency_ratio"] == pytest.approx(from_losses["consistency_ratio"], abs=1e-12)
    for a, b in zip(from_losses["candidates"], from_w["candidates"], strict=True):
        assert b["affinity_low"] is None
        for name in ("gain", "quality"):
            assert a[name] == b[name]
        assert (a["affinity"] is None) == (b["affinity"] is None)
        if a["affinity"] is not None:
            assert b["affinity"] == pytest.approx(a["affinity"], abs=1e-12)


def test_known_answer_of_a_clean_sweep(client: SolverClient) -> None:
    """One candidate beats the other on every image: W clips to 0.999 / 0.001, so w = (0.999, 0.001)."""
    target = {"target": "t", "candidates": [
        {"sources": ["self"], "kind": "self_full_supervision", "losses": [0.1, 0.2, 0.3]},
        {"sources": ["a"], "kind": "first_order", "losses": [1.1, 1.2, 1.3]},
    ]}
    [got] = client.compute_affinity([target])
    assert [c["affinity"] for c in got["candidates"]] == pytest.approx([0.999, 0.001], abs=1e-12)
    assert [c["quality"] for c in got["candidates"]] == [0.5, 0.0]
    assert got["candidates"][0]["gain"] is None  # no pixels baseline


def test_requests_beyond_grpcs_default_4_mib_are_accepted(client: SolverClient) -> None:
    """6 candidates x 100k images of float64 losses: a 4.8 MB request (the server allows 64 MiB)."""
    losses = _losses(seed=2, images=100_000)
    [got] = client.compute_affinity([_target(losses, "losses")])
    ref = target_affinity(losses, self_index=0, pixels_index=5)
    assert [c["affinity"] for c in got["candidates"][:5]] == ref.affinity[:5].tolist()


def test_the_message_limit_is_enforced() -> None:
    server, port = create_server("127.0.0.1:0", max_workers=1, max_message_bytes=1 << 20)
    server.start()
    try:
        with SolverClient(f"127.0.0.1:{port}", timeout_s=30, retries=0) as c:
            with pytest.raises(SolverError) as info:
                c.compute_affinity([_target(_losses(images=30_000), "losses")])  # 1.4 MB
        assert info.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        server.stop(grace=None).wait(5)


@pytest.mark.parametrize(("bootstrap", "self_index", "pixels_index"), [(0, 0, 5), (30, 0, 5), (0, None, None)])
def test_target_affinity_is_a_drop_in_for_the_core(client: SolverClient, bootstrap: int, self_index: int | None,
                                                   pixels_index: int | None) -> None:
    losses = _losses(seed=4, images=120)
    kw: dict[str, Any] = {"self_index": self_index, "pixels_index": pixels_index, "bootstrap": bootstrap,
                          "seed": 7, "confidence": 0.8}
    remote, local = client.target_affinity(losses, **kw), target_affinity(losses, **kw)
    for name in ("affinity", "gain", "quality", "win_rates", "affinity_low", "affinity_high", "gain_low",
                 "gain_high", "quality_low", "quality_high"):
        a, b = getattr(remote, name), getattr(local, name)
        assert (a is None) == (b is None), name
        if a is not None:
            np.testing.assert_array_equal(a, b, err_msg=name)
    assert remote.consistency_ratio == local.consistency_ratio
    assert (remote.bootstrap, remote.confidence) == (local.bootstrap, local.confidence)
