"""Task-specific networks (stage 1) and the ``pixels`` baseline: train, evaluate, predict."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from taskonomy.contract.config import TrainConfig
from taskonomy.errors import InvalidInputError, PreconditionError
from taskonomy.nets import ModelConfig, TaskNetwork, build_task_network, seeded
from taskonomy.nets.decoders import check_decodable
from taskonomy.tasks import TaskSpec
from taskonomy.training._loop import Progress, fit, predict_raw, test_losses
from taskonomy.training.arrays import fit_target_norm, image_size, image_tensors, target_tensor
from taskonomy.training.artifacts import TrainedNetwork
from taskonomy.training.device import place, resolve_device

#: Default evaluation batch size.
EVAL_BATCH = 256


def cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of a module's state dict."""
    return {k: v.detach().to("cpu").clone().contiguous() for k, v in module.state_dict().items()}


def _train_full(task: TaskSpec, data: Mapping[str, np.ndarray], *, model: ModelConfig, train: TrainConfig,
                progress: Progress | None, kind: str) -> TrainedNetwork:
    check_decodable(task)
    device = resolve_device(train.device)
    n, size = image_size(data, task.inputs)
    images = image_tensors(data, task.inputs, device)
    target = target_tensor(task, data, n=n, size=size, device=device)
    with seeded(train.seed):
        net = build_task_network(task, model, size=size)
    place(net, device)
    y = fit_target_norm(net.target, task, target)
    metrics = fit(net, images, y, task=task, train=train, device=device, params=net.parameters(), progress=progress)
    return TrainedNetwork(task=task.name, state=cpu_state(net), metrics=metrics, kind=kind, size=size,
                          model=model.to_dict())


def train_task_network(task: TaskSpec, data: Mapping[str, np.ndarray], *, model: ModelConfig, train: TrainConfig,
                       progress: Progress | None = None) -> TrainedNetwork:
    """Train encoder + decoder of ``task`` on ``data`` (the train split); the result is then frozen.

    Regression targets (``pixels``, ``vector``) are standardised per channel with the split's
    mean and std, stored in the state as ``target.shift`` / ``target.scale``.
    ``progress(step, total_steps)`` is called after every optimiser step.
    """
    return _train_full(task, data, model=model, train=train, progress=progress, kind="task")


def train_pixels_baseline(target: TaskSpec, data: Mapping[str, np.ndarray], *, model: ModelConfig,
                          train: TrainConfig, progress: Progress | None = None) -> TrainedNetwork:
    """The ``pixels`` baseline: the full network trained from the image alone on the small transfer split."""
    return _train_full(target, data, model=model, train=train, progress=progress, kind="pixels")


def load_task_module(task: TaskSpec, net: TrainedNetwork, *, model: ModelConfig, device: torch.device) -> TaskNetwork:
    """Rebuild the torch module of a task / pixels network and load its state."""
    if net.kind not in ("task", "pixels"):
        raise PreconditionError(f"network for {net.task!r} is a {net.kind!r} network; use the transfer functions")
    if net.task != task.name:
        raise InvalidInputError(f"network was trained for task {net.task!r}, not {task.name!r}")
    if net.model and net.model != model.to_dict():
        raise InvalidInputError(f"network was built with model config {net.model}, not {model.to_dict()}")
    module = build_task_network(task, model, size=net.size)
    try:
        module.load_state_dict(net.state, strict=True)
    except RuntimeError as exc:
        raise InvalidInputError(f"network state does not fit the model config of task {task.name!r}: {exc}") from None
    return place(module, device).eval()


def _check_size(net: TrainedNetwork, size: int) -> None:
    if net.size and net.size != size:
        raise InvalidInputError(f"network for {net.task!r} was trained on {net.size}px images, data has {size}px")


def evaluate_network(task: TaskSpec, net: TrainedNetwork, data: Mapping[str, np.ndarray], *, model: ModelConfig,
                     device: str = "auto", batch_size: int = EVAL_BATCH) -> np.ndarray:
    """Per-image test losses (N,) float64 of a full network (``self`` or ``pixels``) on ``data``.

    Regression losses are in target units, so they compare across every candidate of a target.
    """
    dev = resolve_device(device)
    n, size = image_size(data, task.inputs)
    _check_size(net, size)
    module = load_task_module(task, net, model=model, device=dev)
    images = image_tensors(data, task.inputs, dev)
    target = target_tensor(task, data, n=n, size=size, device=dev)
    return test_losses(module, images, target, task=task, device=dev, batch_size=batch_size)


def predict(task: TaskSpec, net: TrainedNetwork, data: Mapping[str, np.ndarray], *, model: ModelConfig,
            device: str = "auto", batch_size: int = EVAL_BATCH) -> np.ndarray:
    """Predictions of a full network, float32 (N, ...):

    ``pixels`` / ``vector``: in target units; ``labels`` / ``class`` / ``distribution``: class
    probabilities over axis 1 (argmax gives the labels); ``binary``: probability of 1;
    ``embedding``: the per-pixel embedding (N, D, H, W).
    """
    dev = resolve_device(device)
    _, size = image_size(data, task.inputs)
    _check_size(net, size)
    module = load_task_module(task, net, model=model, device=dev)
    images = image_tensors(data, task.inputs, dev)
    return predict_raw(module, images, task=task, device=dev, batch_size=batch_size).numpy()
