"""Win rates and AHP: known answers, NaN safety, baselines, bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskonomy.affinity import ahp, consistency_ratio, reciprocal_matrix, target_affinity, win_rate_matrix
from taskonomy.errors import InvalidInputError


def _consistent(w: np.ndarray) -> np.ndarray:
    """A tournament whose reciprocal matrix is exactly w_i / w_j."""
    return w[:, None] / (w[:, None] + w[None, :])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.05, 1.0), min_size=2, max_size=12))
def test_consistent_matrix_gives_back_its_weights(weights: list[float]) -> None:
    w = np.array(weights) / sum(weights)
    # keep every win rate inside the clip so the reciprocal matrix stays consistent
    W = _consistent(w)
    if W.min() < 0.001 or W.max() > 0.999:
        return
    np.testing.assert_allclose(ahp(W), w, rtol=1e-10, atol=1e-12)
    assert consistency_ratio(W) == pytest.approx(0.0, abs=1e-9)


def test_win_rates_by_hand() -> None:
    losses = np.array([[1.0, 2.0, 3.0, 0.0],
                       [2.0, 2.0, 1.0, np.nan],
                       [0.0, 0.0, 0.0, 0.0]])
    W = win_rate_matrix(losses)
    assert W[0, 1] == pytest.approx(1 / 3)    # images 0..2 comparable; only image 0 strictly lower
    assert W[1, 0] == pytest.approx(1 / 3)    # image 2; the tie on image 1 counts for neither
    assert W[2, 0] == pytest.approx(3 / 4) and W[0, 2] == 0.0
    assert np.diag(W).tolist() == [0.5, 0.5, 0.5]
    assert np.isfinite(W).all()


def test_reciprocal_matrix_clips_and_is_reciprocal() -> None:
    W = np.array([[0.5, 1.0], [0.0, 0.5]])
    A = reciprocal_matrix(W)
    assert A[0, 1] == pytest.approx(0.999 / 0.001) and A[0, 1] * A[1, 0] == pytest.approx(1.0)
    a = ahp(W)
    assert a.sum() == pytest.approx(1.0) and a[0] > a[1]


def test_target_affinity_pixels_outside_tournament() -> None:
    rng = np.random.default_rng(0)
    quality = np.array([0.1, 0.2, 0.3, 0.4, 0.5])  # row 3 = self, row 4 = pixels (worst)
    losses = quality[:, None] + rng.normal(0, 0.15, size=(5, 400))
    res = target_affinity(losses, self_index=3, pixels_index=4)
    assert np.isnan(res.affinity[4])
    assert np.nansum(res.affinity) == pytest.approx(1.0)
    assert list(np.argsort(-res.affinity[:4])) == [0, 1, 2, 3]  # lower loss, higher affinity
    assert res.gain is not None and res.quality is not None
    assert res.gain[4] == 0.5 and res.quality[3] == 0.5
    np.testing.assert_allclose(res.gain, res.win_rates[:, 4])
    np.testing.assert_allclose(res.quality, res.win_rates[:, 3])
    assert 0.0 <= res.consistency_ratio < 0.1
    assert res.affinity_low is None


def test_bootstrap_intervals_contain_estimate_and_are_seeded() -> None:
    rng = np.random.default_rng(1)
    losses = np.array([0.2, 0.25, 0.3, 0.5])[:, None] + rng.normal(0, 0.2, size=(4, 300))
    losses[1, :10] = np.nan
    a = target_affinity(losses, self_index=0, pixels_index=3, bootstrap=50, seed=7)
    b = target_affinity(losses, self_index=0, pixels_index=3, bootstrap=50, seed=7)
    assert a.affinity_low is not None and a.affinity_high is not None
    np.testing.assert_array_equal(a.affinity_low, b.affinity_low)
    ok = slice(0, 3)
    assert (a.affinity_low[ok] <= a.affinity[ok]).all() and (a.affinity[ok] <= a.affinity_high[ok]).all()
    assert (a.affinity_high[ok] - a.affinity_low[ok] > 0).all()
    assert a.gain_low is not None and a.gain_high is not None and a.win_rates_low is not None
    assert (a.gain_low <= a.gain).all() and (a.gain <= a.gain_high).all()
    c = target_affinity(losses, self_index=0, pixels_index=3, bootstrap=50, seed=8)
    assert c.affinity_low is not None and not np.array_equal(a.affinity_low, c.affinity_low)


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"losses": np.zeros(3)}, "2-D array"),
    ({"self_index": 5}, "self_index: must be a row index"),
    ({"bootstrap": -1}, "bootstrap: must be an integer >= 0"),
    ({"confidence": 1.5}, "confidence"),
    ({"losses": np.array([[1.0, 2.0], [np.nan, np.nan], [0.0, 1.0]])}, "row 1 has no finite loss"),
])
def test_bad_input(kwargs: dict, needle: str) -> None:
    args = {"losses": np.ones((3, 4)), "self_index": 0, "pixels_index": 2, **kwargs}
    with pytest.raises(InvalidInputError, match=needle):
        target_affinity(**args)


def test_bad_w() -> None:
    with pytest.raises(InvalidInputError, match="square"):
        ahp(np.ones((2, 3)))
    with pytest.raises(InvalidInputError, match="NaN"):
        ahp(np.array([[0.5, np.nan], [0.2, 0.5]]))
