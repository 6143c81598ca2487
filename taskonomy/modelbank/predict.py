"""Every task's prediction for one image, rendered the way the world preview renders ground truth.

Inputs of the networks are derived from the one image with the world's own corruptions
(:func:`taskonomy.world.corrupted_inputs`): ``gray`` (luma), ``rgb_noisy`` (Gaussian noise of the
world's ``noise_sigma``, seed 0), ``rgb_masked`` (the centred square of a third of the side
blacked out, where the world masks a random square) and ``jigsaw_image`` (tiles in the first
permutation of the fixed set, where the world draws one). Multi-view
tasks (egomotion, fixated and non-fixated pose, point matching) need several views of one
scene: for an uploaded image they are **skipped** and reported as such (feeding the same image
to every view would only ever show "no motion"). A world sample has all its views, so they run.

Images of any size are centre-cropped to a square and resized to the experiment's resolution.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from taskonomy.contract import ExperimentSpec, WorldDataset, WorldOptions
from taskonomy.contract.graph import build_graph
from taskonomy.data import split_indices
from taskonomy.errors import InvalidInputError, PreconditionError, TaskonomyError
from taskonomy.files import atomic_write
from taskonomy.modelbank._cards import ModelEntry
from taskonomy.modelbank._image import decode_image, encode_png, fit_image
from taskonomy.modelbank._listing import Experiment, chosen_transfers, model_entries
from taskonomy.store import ArtifactStore, validate_key
from taskonomy.tasks import RANDOM, get_task
from taskonomy.world import centred_square, corrupted_inputs, intrinsics, preview_sheet, render_sample

#: Image keys a single image can stand in for (every single-view task input of the built-in world).
SINGLE_VIEW_KEYS: tuple[str, ...] = ("rgb", "gray", "rgb_noisy", "rgb_masked", "jigsaw_image")


@dataclass
class TaskPrediction:
    """One network's prediction, in the form of the task's ground truth (``TaskSpec.output``)."""

    name: str
    task: str
    role: str
    sources: tuple[str, ...]
    weights: str
    value: np.ndarray
    png: bytes = b""


@dataclass
class PredictionSet:
    """The predictions for one image (or world sample)."""

    size: int
    sample: dict[str, np.ndarray]
    predictions: list[TaskPrediction] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    ground_truth: dict[str, bytes] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size,
                "predictions": [{"name": p.name, "task": p.task, "role": p.role, "sources": list(p.sources),
                                 "weights": p.weights, "image": f"{p.name}.png"} for p in self.predictions],
                "skipped": dict(self.skipped),
                "ground_truth": {t: f"truth.{t}.png" for t in self.ground_truth}}


def experiment_size(exp: Experiment) -> int:
    """Image side of the experiment's data (the networks' resolution)."""
    size = int(getattr(exp.spec.dataset, "size", 0) or 0)
    if size <= 0:
        raise PreconditionError(f"experiment {exp.id!r} has no image size")
    return size


def derive_inputs(rgb: np.ndarray, *, noise_sigma: float = 0.1, seed: int = 0) -> dict[str, np.ndarray]:
    """The single-view inputs of every built-in task from one rgb image (3, S, S) in [0, 1]: the
    world's corruptions (:func:`taskonomy.world.corrupted_inputs`) with the noise drawn from
    ``default_rng(seed)``, the centred square masked and the first jigsaw permutation."""
    rgb = np.asarray(rgb, dtype=np.float32)
    corrupted = corrupted_inputs(rgb, np.random.default_rng(seed), noise_sigma=noise_sigma,
                                 mask=centred_square(rgb.shape[-1]), permutation=0)
    return {"rgb": rgb, **{k: corrupted[k] for k in SINGLE_VIEW_KEYS[1:]}}


def image_sample(exp: Experiment, image: np.ndarray) -> dict[str, np.ndarray]:
    """An uploaded image (3, H, W) as a sample of the experiment's resolution."""
    size = experiment_size(exp)
    d = exp.spec.dataset
    sigma = d.options.noise_sigma if isinstance(d, WorldDataset) else WorldOptions().noise_sigma
    sample = derive_inputs(fit_image(image, size), noise_sigma=sigma)
    sample["meta.K"] = _intrinsics(exp, size)
    return sample


def world_sample(exp: Experiment, index: int) -> dict[str, np.ndarray]:
    """Test image ``index`` of the experiment's world (every view and every ground truth)."""
    d = exp.spec.dataset
    if not isinstance(d, WorldDataset):
        raise PreconditionError(f"experiment {exp.id!r} was trained on a {d.kind} dataset, "
                                "not the built-in world: upload an image instead")
    n_test = int(exp.spec.splits.test)
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < n_test:
        raise InvalidInputError(f"world sample index must be an integer in 0..{n_test - 1}, got {index!r}")
    return dict(render_sample(d.world(), split_indices("test", n_test)[index]))


def _intrinsics(exp: Experiment, size: int) -> np.ndarray:
    d = exp.spec.dataset
    fov = d.options.fov_deg if isinstance(d, WorldDataset) else WorldOptions().fov_deg
    return np.asarray(intrinsics(size, fov), dtype=np.float32)


def target_form(task: Any, pred: np.ndarray) -> np.ndarray:
    """One image's network output (no batch axis) → the shape and dtype of the task's ground truth.

    The output is :func:`~taskonomy.training.predict`'s: class probabilities for labels, classes and
    distributions (a soft label such as ``class_scene`` is kept as its probabilities)."""
    kind = task.output.kind
    p = np.asarray(pred, dtype=np.float32)
    if kind in ("labels", "class"):
        return np.asarray(p.argmax(axis=0), dtype=np.int64)
    if kind == "embedding":  # segment ids: which side of each dimension's median a pixel's embedding falls
        bits = p > np.median(p.reshape(p.shape[0], -1), axis=1)[:, None, None]
        weights = (1 << np.arange(p.shape[0], dtype=np.int64))[:, None, None]
        return np.asarray((bits * weights).sum(axis=0), dtype=np.int64)
    return p


def _load(exp: Experiment, key: str) -> Any:
    from taskonomy.training import network_from_bytes  # torch: only when predicting

    return network_from_bytes(exp.store.get_bytes(key))


def _encoder(exp: Experiment, source: str, nets: Mapping[str, str]) -> dict[str, Any]:
    import torch

    from taskonomy.training import encoder_state  # torch: only when predicting

    if source == RANDOM:
        key = next(j.outputs[0] for j in build_graph(exp.spec).jobs.values() if j.kind == "random_encoder")
        return {k: torch.from_numpy(np.array(v)) for k, v in exp.store.get_tensors(key).items()}
    return dict(encoder_state(_load(exp, nets[source])))


def predict_sample(exp: Experiment, sample: Mapping[str, np.ndarray], *, transfers: bool = False,
                   tasks: Sequence[str] | None = None, device: str = "cpu") -> PredictionSet:
    """Run every task-specific network of ``exp`` (and with ``transfers`` every transfer its
    taxonomy chose) on ``sample``; tasks whose inputs the sample lacks are skipped with a reason."""
    from taskonomy.training import extract_features, predict, predict_transfer  # torch: when predicting

    model = exp.spec.model
    size = int(np.asarray(sample["rgb"]).shape[-1])
    out = PredictionSet(size=size, sample=dict(sample))
    entries, _ = model_entries(exp.spec, exp.store)
    nets = {e.task: e.key for e in entries if e.role == "task_specific"}
    wanted = set(tasks) if tasks is not None else None

    def missing_views(task: Any) -> str | None:
        lack = [k for k in task.inputs if k not in sample]
        if not lack:
            return None
        return (f"needs {len(task.inputs)} views of one scene ({', '.join(task.inputs)}); a single image has one"
                if task.multiview else f"needs input {', '.join(lack)}")

    for e in entries:
        if e.role != "task_specific" or (wanted is not None and e.task not in wanted):
            continue
        task = get_task(e.task)
        reason = missing_views(task)
        if reason:
            out.skipped[e.task] = reason
            continue
        if not exp.store.exists(e.key):
            out.skipped[e.task] = "its network has not been trained yet"
            continue
        batch = {k: np.asarray(sample[k], dtype=np.float32)[None] for k in task.inputs}
        pred = predict(task, _load(exp, e.key), batch, model=model, device=device)[0]
        out.predictions.append(TaskPrediction(name=e.task, task=e.task, role=e.role, sources=(), weights=e.key,
                                              value=target_form(task, pred)))
    if transfers:
        by_edge: dict[tuple[str, tuple[str, ...]], ModelEntry] = {
            (e.task, e.sources): e for e in entries if e.role == "transfer"}
        for edge in chosen_transfers(exp):
            target, sources = edge["target"], tuple(edge["sources"])
            name = f"{target}.from-{'+'.join(sources)}"
            if wanted is not None and target not in wanted:
                continue
            task = get_task(target)
            entry = by_edge.get((target, sources))
            reason = missing_views(task)
            if entry is None or not exp.store.exists(entry.key):
                out.skipped[name] = "the transfer's network is not in the store (trained before networks were kept)"
                continue
            if reason:
                out.skipped[name] = reason
                continue
            batch = {k: np.asarray(sample[k], dtype=np.float32)[None] for k in task.inputs}
            feats = [extract_features(_encoder(exp, s, nets), batch, keys=list(task.inputs), model=model,
                                      device=device) for s in sources]
            pred = predict_transfer(task, _load(exp, entry.key), feats, model=model, device=device)[0]
            out.predictions.append(TaskPrediction(name=name, task=target, role="transfer", sources=sources,
                                                  weights=entry.key, value=target_form(task, pred)))
    return out


def render_task_png(task_name: str, value: np.ndarray, sample: Mapping[str, np.ndarray], *, title: str = "") -> bytes:
    """One task's output (prediction or ground truth) as a PNG, drawn by the world preview."""
    task = get_task(task_name)
    sheet = {k: np.asarray(v) for k, v in sample.items() if not k.startswith("meta.") or k == "meta.K"}
    sheet[task.target] = np.asarray(value)
    if "rgb" not in sheet:
        raise InvalidInputError("a sample to render needs its rgb image")
    with tempfile.TemporaryDirectory(prefix="taskonomy-png-") as tmp:
        path = os.path.join(tmp, "task.png")
        preview_sheet(sheet, path, title=title, tasks=[task.name], show_inputs=False)
        with open(path, "rb") as fh:
            return fh.read()


def render(pset: PredictionSet, *, ground_truth: bool = False) -> PredictionSet:
    """Fill every prediction's PNG (and, for a world sample, the ground truth's)."""
    for p in pset.predictions:
        label = "prediction" if p.role == "task_specific" else f"transfer from {' + '.join(p.sources)}"
        p.png = render_task_png(p.task, p.value, pset.sample, title=label)
    if ground_truth:
        for task_name in dict.fromkeys(p.task for p in pset.predictions):
            target = get_task(task_name).target
            if target in pset.sample:
                pset.ground_truth[task_name] = render_task_png(task_name, pset.sample[target], pset.sample,
                                                               title="ground truth")
    return pset


def write_pngs(pset: PredictionSet, out_dir: str | os.PathLike[str]) -> list[str]:
    """Write ``input.png``, one ``<name>.png`` per prediction, ``truth.<task>.png`` and
    ``predictions.json``; returns the paths written."""
    import json

    out = os.fspath(out_dir)
    os.makedirs(out, exist_ok=True)
    written: list[str] = []

    def put(name: str, data: bytes) -> None:
        path = os.path.join(out, name)
        atomic_write(path, data)
        written.append(path)

    put("input.png", encode_png(pset.sample["rgb"]))
    for p in pset.predictions:
        put(f"{p.name}.png", p.png)
    for t, data in pset.ground_truth.items():
        put(f"truth.{t}.png", data)
    put("predictions.json", json.dumps(pset.to_dict(), indent=1, sort_keys=True).encode())
    return written


# -- prediction requests through the artifact store (a worker runs them; the gateway polls) ------

def request_key(prediction_id: str, name: str = "request.json") -> str:
    """Keys of one prediction: ``predictions/<id>/request.json``, ``upload``, ``result.json``, ``<name>.png``."""
    return validate_key(f"predictions/{prediction_id}/{name}")


def run_prediction_request(store: Any, prediction_id: str) -> dict[str, Any]:
    """Run the request stored under ``predictions/<id>/request.json`` and store its pictures and
    ``result.json`` (``state`` SUCCEEDED with the picture names, or FAILED with the error).

    The request names the experiment (``spec``, ``experiment``, ``store``: its artifact store URL)
    and either ``upload`` (the key of the uploaded image bytes) or ``world_sample`` (a test index).
    A request already answered is not run again (at-least-once delivery is harmless).
    """
    result_key = request_key(prediction_id, "result.json")
    if store.exists(result_key):
        return dict(store.get_json(result_key))
    req = store.get_json(request_key(prediction_id))
    try:
        spec = ExperimentSpec.parse(req["spec"], origin=f"prediction {prediction_id!r}")
        exp_store = store if req.get("store") in (None, store.url) else ArtifactStore(str(req["store"]))
        exp = Experiment(id=str(req["experiment"]), spec=spec, store=exp_store)
        world = req.get("world_sample")
        if world is not None:
            sample = world_sample(exp, world)
        else:
            sample = image_sample(exp, decode_image(store.get_bytes(str(req["upload"]))))
        pset = render(predict_sample(exp, sample, transfers=bool(req.get("transfers"))),
                      ground_truth=world is not None)
        store.put_bytes(request_key(prediction_id, "input.png"), encode_png(pset.sample["rgb"]))
        for p in pset.predictions:
            store.put_bytes(request_key(prediction_id, f"{p.name}.png"), p.png)
        for t, data in pset.ground_truth.items():
            store.put_bytes(request_key(prediction_id, f"truth.{t}.png"), data)
        result: dict[str, Any] = {"id": prediction_id, "state": "SUCCEEDED", "experiment": exp.id,
                                  "world_sample": world, "input": "input.png", **pset.to_dict()}
    except TaskonomyError as exc:
        result = {"id": prediction_id, "state": "FAILED", "experiment": req.get("experiment"),
                  "error": str(exc), "code": exc.code}
    except Exception as exc:  # answer the poller, then let the worker log the traceback
        store.put_json(result_key, {"id": prediction_id, "state": "FAILED", "experiment": req.get("experiment"),
                                    "error": f"internal error ({type(exc).__name__}); see the worker's log",
                                    "code": "internal"})
        raise
    store.put_json(result_key, result)
    return result
