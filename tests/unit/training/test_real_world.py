"""Every trainable task on a tiny split of the real built-in world (the data contract end to end)."""

from __future__ import annotations

import numpy as np
import pytest

from taskonomy.data import render_block
from taskonomy.nets import ModelConfig
from taskonomy.tasks import BUILTIN_TASKS, TaskSpec
from taskonomy.training import (
    TrainConfig,
    encoder_state,
    evaluate_network,
    evaluate_transfer,
    extract_features,
    predict,
    train_task_network,
    train_transfer,
)
from taskonomy.world import WorldSpec

SMALL = ModelConfig(width=8, rep_channels=4, blocks=1, hidden=16, transfer_width=8)
ONE_STEP = TrainConfig(epochs=1, batch_size=6, max_steps=1, device="cpu")


@pytest.fixture(scope="module")
def world() -> dict[str, np.ndarray]:
    return render_block(WorldSpec(seed=0, size=16), 0, 6)


@pytest.mark.parametrize("task", [t for t in BUILTIN_TASKS if t.trainable], ids=lambda t: t.name)
def test_every_task_trains_and_evaluates_on_the_world(task: TaskSpec, world: dict[str, np.ndarray]) -> None:
    net = train_task_network(task, world, model=SMALL, train=ONE_STEP)
    losses = evaluate_network(task, net, world, model=SMALL)
    assert losses.shape == (6,) and np.isfinite(losses).all()
    pred = predict(task, net, world, model=SMALL)
    assert pred.shape[0] == 6 and np.isfinite(pred).all()
    feats = extract_features(encoder_state(net), world, keys=task.inputs, model=SMALL)
    tr = train_transfer(task, [feats], world, model=SMALL, train=ONE_STEP)
    assert np.isfinite(evaluate_transfer(task, tr, [feats], world, model=SMALL)).all()
