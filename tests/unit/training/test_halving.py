"""Successive halving: the budget holds, survivors equal full training, the plan fits."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from taskonomy.errors import InvalidInputError
from taskonomy.nets import ModelConfig
from taskonomy.tasks import get_task
from taskonomy.training import TrainConfig
from taskonomy.training.fused import FusedTransferTrainer, Readout
from taskonomy.training.halving import _extrapolate, halving_plan, plan_cost, successive_halving, win_rate_scores
from taskonomy.training.synthetic import synthetic_split

MODEL = ModelConfig(width=4, rep_channels=4, blocks=0, transfer_width=8, hidden=16)
SIZE = 16


def _sources(data: dict[str, np.ndarray], n_sources: int, seed: int) -> list[dict[str, np.ndarray]]:
    """Sources of decreasing quality: the pooled image plus more and more noise."""
    rng = np.random.default_rng(seed)
    n = data["rgb"].shape[0]
    pooled = data["rgb"].reshape(n, 3, 2, 8, 2, 8).mean(axis=(3, 5))
    base = np.concatenate([pooled, pooled[:, :1]], axis=1)
    return [{"rgb": (base * (1 - s / n_sources) + rng.standard_normal(base.shape) * s / n_sources).astype(np.float32)}
            for s in range(n_sources)]


@pytest.mark.slow
def test_halving_within_budget_and_survivors_equal_full_training() -> None:
    tasks = [get_task("normal"), get_task("class_scene")]
    train_data, test_data = synthetic_split(tasks, 32, SIZE, 0), synthetic_split(tasks, 24, SIZE, 1)
    k = 6
    tr_src, te_src = _sources(train_data, k, 2), _sources(test_data, k, 2)
    readouts = [Readout(t, [f], train_data) for t in tasks for f in tr_src]
    groups = {t.name: list(range(j * k, (j + 1) * k)) for j, t in enumerate(tasks)}
    cfg = TrainConfig(epochs=8, batch_size=16, lr=3e-3, device="cpu", seed=3)

    def evaluator(trainer: FusedTransferTrainer) -> Callable[[int], np.ndarray]:
        return lambda i: trainer.evaluate(i, [te_src[i % k]], test_data)

    full = FusedTransferTrainer(readouts, model=MODEL, train=cfg)
    full.run()
    full_losses = np.stack([full.evaluate(i, [te_src[i % k]], test_data) for i in range(len(readouts))])

    trainer = FusedTransferTrainer(readouts, model=MODEL, train=cfg)
    res = successive_halving(trainer, groups, evaluator(trainer), budget=0.5, bootstrap=20)
    assert res.full_steps == 16
    assert res.compute_fraction <= 0.5
    assert res.losses.shape == full_losses.shape and np.isfinite(res.losses).all()
    finished = np.flatnonzero(res.steps == res.full_steps)
    assert 1 <= len(finished) < len(readouts)
    for g in groups.values():  # every target keeps at least its best candidate to the end
        assert any(res.steps[i] == res.full_steps for i in g)
    np.testing.assert_allclose(res.losses[finished], full_losses[finished], rtol=1e-5, atol=1e-7)
    assert res.rounds[-1]["step"] == 16 and sum(r["trained"] for r in res.rounds) > len(readouts)
    # Stopped candidates: measured losses kept in raw_losses, the table's extrapolated to the end (never worse).
    stopped = np.flatnonzero(res.steps < res.full_steps)
    assert res.raw_losses is not None
    assert (res.losses[stopped] <= res.raw_losses[stopped]).all()
    assert (res.losses[stopped] < res.raw_losses[stopped]).any()
    np.testing.assert_array_equal(res.raw_losses[finished], res.losses[finished])
    # Without extrapolation the same run gives the measured losses, and training is untouched by the extra evaluations.
    again = FusedTransferTrainer(readouts, model=MODEL, train=cfg)
    plain = successive_halving(again, groups, evaluator(again), budget=0.5, bootstrap=20, extrapolate=False)
    np.testing.assert_array_equal(plain.steps, res.steps)
    np.testing.assert_allclose(plain.losses, res.raw_losses, rtol=1e-5, atol=1e-7)

    fresh = FusedTransferTrainer(readouts[:2], model=MODEL, train=cfg)
    with pytest.raises(InvalidInputError, match="partition"):
        successive_halving(fresh, {"a": [0]}, lambda i: np.zeros(3))
    fresh.advance(1)
    with pytest.raises(InvalidInputError, match="fresh trainer"):
        successive_halving(fresh, {"a": [0, 1]}, lambda i: np.zeros(3))


@pytest.mark.parametrize(("steps", "n", "budget"), [(60, 10, 0.25), (80, 27, 0.25), (200, 40, 0.1), (60, 8, 0.5)])
def test_plan_fits_budget(steps: int, n: int, budget: float) -> None:
    eta, rungs = halving_plan(steps, n_candidates=n, budget=budget)
    assert rungs[-1] == steps and rungs == sorted(set(rungs)) and eta >= 2 and len(rungs) >= 2
    assert plan_cost(steps, n, eta, rungs) <= budget
    # no feasible plan of this family has a longer first rung
    keep1 = (budget * n * steps - steps) // (n - 1)
    assert rungs[0] >= min(keep1, steps - 1)


def test_plan_errors_and_scores() -> None:
    with pytest.raises(InvalidInputError, match="budget"):
        halving_plan(10, n_candidates=4, budget=0)
    with pytest.raises(InvalidInputError, match="total_steps"):
        halving_plan(0, n_candidates=4)
    assert halving_plan(10, n_candidates=4, budget=1.0) == (1, [10])
    losses = np.array([[1.0, 1.0, 1.0], [2.0, 0.5, 2.0], [3.0, 3.0, 3.0]])
    np.testing.assert_allclose(win_rate_scores(losses), [(2 / 3 + 1) / 2, (1 / 3 + 1) / 2, 0.0])


def test_extrapolation_follows_each_stopped_candidates_power_law_learning_curve() -> None:
    total = 64
    # Candidate 0 stopped at step 8 on an exact power law L(t) = 2·t^(-1/2): at 64 it is a third of L(8)...
    curve = {t: np.array([1.0, 3.0]) * 2 * t ** -0.5 / 2 for t in (2, 4, 8)}
    # ... candidate 1 reached the end, candidate 2 has a single point, candidate 3 got worse (never scaled up).
    raw = np.stack([curve[8], np.array([0.3, 0.3]), np.array([5.0, 5.0]), np.array([2.0, 2.0])])
    steps = np.array([8, total, 8, 8])
    history = [curve, {total: raw[1]}, {8: raw[2]}, {4: np.array([1.0, 1.0]), 8: raw[3]}]
    out = _extrapolate(raw, steps, history, total)
    np.testing.assert_allclose(out[0], curve[8] * np.sqrt(8 / 64), rtol=1e-9)  # per-image order kept
    np.testing.assert_array_equal(out[1:], raw[1:])
