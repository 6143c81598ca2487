"""Job execution: ``run_job(job, store)`` — the one function every executor calls.

A job reads its inputs and writes its outputs only through the
:class:`~taskonomy.store.ArtifactStore`, so the local executor and a Celery worker on another
machine run exactly the same code. ``run_job`` is idempotent: when every output already
exists it does nothing (Celery's at-least-once delivery is then harmless, and an interrupted
run resumes where it stopped). The handlers import :mod:`taskonomy.training` (torch) when they
run, so importing this module (the gateway and the control queue do) never loads torch.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from taskonomy.config import ModelConfig, TrainConfig
from taskonomy.data import SplitSizes, build_world_dataset
from taskonomy.errors import CorruptArtifactError, InvalidInputError, PreconditionError
from taskonomy.pipeline.datasets import load_folder_dataset
from taskonomy.pipeline.finalize import finalize
from taskonomy.pipeline.graph import Job, transfer_job
from taskonomy.pipeline.keys import transfer_weights_key
from taskonomy.pipeline.spec import WorldDataset
from taskonomy.selection import higher_order_candidates
from taskonomy.store import ArtifactStore
from taskonomy.tasks import PIXELS, RANDOM, SELF, TaskSpec, candidate_kind, get_task

#: ``progress(done, total)`` inside one job (e.g. training steps); may be None.
Progress = Callable[[int, int], None] | None
#: Name of the single array in a data / losses artifact.
ARRAY = "x"


def outputs_exist(job: Job, store: ArtifactStore) -> bool:
    return all(store.exists(k) for k in job.outputs)


def run_job(job: Job, store: ArtifactStore, *, progress: Progress = None, verify: bool = False) -> bool:
    """Run ``job`` unless all its outputs exist; return True when work was done.

    With ``verify``, existing outputs are checked against their checksums first and a corrupt
    one is deleted, so the job recomputes it instead of handing bad bytes downstream.
    Raises PreconditionError when an input artifact is missing (its producer has not run) and
    InvalidInputError for an unknown job kind.
    """
    if verify:
        for key in job.outputs:
            if store.exists(key) and not store.verify(key):
                store.delete(key)
    if outputs_exist(job, store):
        return False
    handler = HANDLERS.get(job.kind)
    if handler is None:
        raise InvalidInputError(f"unknown job kind {job.kind!r}; known: {', '.join(sorted(HANDLERS))}")
    missing = [k for k in job.inputs if not store.exists(k)]
    if missing:
        raise PreconditionError(f"job {job.id} ({job.kind}) is missing {len(missing)} input artifact(s), "
                                f"e.g. {missing[0]!r}: run the jobs that produce them first")
    handler(job, store, progress)
    return True


# -- helpers -----------------------------------------------------------------------------------

def _array(store: ArtifactStore, key: str) -> np.ndarray:
    tensors = store.get_tensors(key)
    if ARRAY not in tensors:
        raise CorruptArtifactError(f"artifact {key!r} holds no array {ARRAY!r}")
    return tensors[ARRAY]


class StoredArrays:
    """Arrays read from an artifact store once each, for code that reads them for many jobs.

    :meth:`features` returns one mapping object per selection of feature artifacts: the fused
    trainer shares batches, and :class:`~taskonomy.affinity.proxies.ProxyCache` rows, by the
    identity of a source's feature mapping, so every reader of the same features gets the same object.
    """

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self._arrays: dict[str, np.ndarray] = {}
        self._maps: dict[tuple[tuple[str, str], ...], dict[str, np.ndarray]] = {}

    def __call__(self, key: str) -> np.ndarray:
        if key not in self._arrays:
            self._arrays[key] = _array(self.store, key)
        return self._arrays[key]

    def features(self, keys: Mapping[str, str], inputs: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Input key → array for one source's feature artifacts (only ``inputs``, if given)."""
        chosen = tuple(sorted((k, v) for k, v in keys.items() if inputs is None or k in inputs))
        if chosen not in self._maps:
            self._maps[chosen] = {k: self(v) for k, v in chosen}
        return self._maps[chosen]


def _arrays(store: ArtifactStore, keys: Mapping[str, str]) -> dict[str, np.ndarray]:
    return {name: _array(store, key) for name, key in keys.items()}


def _model(model: Mapping[str, Any]) -> ModelConfig:
    return ModelConfig.from_dict(dict(model))


def _train_config(train: Mapping[str, Any], seed: int) -> TrainConfig:
    return TrainConfig(**dict(train), seed=seed)


def _task(name: str) -> TaskSpec:
    return get_task(name)


def save_network(store: ArtifactStore, key: str, net: Any) -> None:
    """Store a ``TrainedNetwork`` as safetensors (the training package's own format)."""
    from taskonomy.training import network_to_bytes  # torch: only when a job runs (module docstring)

    store.put_bytes(key, network_to_bytes(net), meta={"task": net.task, "kind": net.kind,
                                                      "metrics": _jsonable_metrics(net.metrics)})


def load_network(store: ArtifactStore, key: str) -> Any:
    """A stored task network as ``taskonomy.training.TrainedNetwork``."""
    from taskonomy.training import network_from_bytes  # torch: when the job runs

    return network_from_bytes(store.get_bytes(key))


def _encoder_state(store: ArtifactStore, key: str) -> dict[str, Any]:
    import torch

    meta = store.meta(key)
    if meta.get("encoder_only"):
        return {k: torch.from_numpy(np.array(v)) for k, v in store.get_tensors(key).items()}
    from taskonomy.training import encoder_state  # torch: when the job runs

    return dict(encoder_state(load_network(store, key)))


def _jsonable_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in dict(metrics or {}).items():
        if isinstance(v, int | float | str | bool) or v is None:
            out[str(k)] = v
        elif isinstance(v, list | tuple) and all(isinstance(x, int | float) for x in v):
            out[str(k)] = [float(x) for x in v]
        elif hasattr(v, "item"):
            try:
                out[str(k)] = float(v.item())
            except (TypeError, ValueError):
                pass
    return out


# -- handlers ----------------------------------------------------------------------------------

def _render(job: Job, store: ArtifactStore, progress: Progress) -> None:
    p = job.params
    dataset = dict(p["dataset"])
    keys: Mapping[str, Mapping[str, str]] = p["keys"]
    if dataset.get("kind") == "world":
        world = WorldDataset.model_validate(dataset).world()
        sizes = {k: int(v) for k, v in p["splits"].items()}
        with tempfile.TemporaryDirectory(prefix="taskonomy-render-") as tmp:
            ds = build_world_dataset(world, SplitSizes(**sizes), tmp, workers=_workers(sum(sizes.values())),
                                     progress=False)
            _store_splits(store, ds, keys, dataset)
    else:
        folder = load_folder_dataset(dataset, p["splits"], sample_keys=sorted({k for m in keys.values() for k in m}))
        _store_splits(store, folder, keys, dataset)


def _workers(n_samples: int) -> int | None:
    """Render processes: ``TASKONOMY_RENDER_WORKERS``, else one for tiny worlds (spawning costs more)."""
    env = os.environ.get("TASKONOMY_RENDER_WORKERS")
    if env and env.isdigit() and int(env) >= 1:
        return int(env)
    return 1 if n_samples <= 512 else None


def _store_splits(store: ArtifactStore, ds: Any, keys: Mapping[str, Mapping[str, str]],
                  dataset: Mapping[str, Any]) -> None:
    for split, kmap in keys.items():
        todo = {k: v for k, v in kmap.items() if not store.exists(v)}
        if not todo:
            continue
        try:
            arrays = ds.split(split, keys=sorted(todo))
        except TypeError:
            arrays = ds.split(split)
        for sample_key, dkey in todo.items():
            if sample_key not in arrays:
                raise PreconditionError(f"the {dataset.get('kind')} dataset has no {sample_key!r} data on split "
                                        f"{split!r} (it has: {', '.join(sorted(arrays))})")
            store.put_tensors(dkey, {ARRAY: np.ascontiguousarray(arrays[sample_key])},
                              metadata={"split": split, "sample_key": sample_key})


def _train(job: Job, store: ArtifactStore, progress: Progress) -> None:
    from taskonomy.training import train_task_network  # torch: when the job runs

    p = job.params
    data = _arrays(store, p["data"])
    net = train_task_network(_task(p["task"]), data, model=_model(p["model"]),
                             train=_train_config(p["train"], p["seed"]), progress=progress)
    save_network(store, p["output"], net)


def _random_encoder(job: Job, store: ArtifactStore, progress: Progress) -> None:
    from taskonomy.training import random_encoder_state  # torch: when the job runs

    p = job.params
    state = random_encoder_state(_model(p["model"]), seed=int(p["seed"]))
    store.put_tensors(p["output"], dict(state), metadata={"task": RANDOM, "encoder_only": True})


def _features(job: Job, store: ArtifactStore, progress: Progress) -> None:
    from taskonomy.training import extract_features  # torch: when the job runs

    p = job.params
    todo = {k: out for k, out in p["output"].items() if not store.exists(out)}
    enc = _encoder_state(store, p["net"])
    data = _arrays(store, {k: p["data"][k] for k in todo})
    feats = extract_features(enc, data, keys=sorted(todo), model=_model(p["model"]))
    for k, out in todo.items():
        store.put_tensors(out, {ARRAY: np.asarray(feats[k], dtype=np.float32)},
                          metadata={"source": p["source"], "split": p["split"], "image_key": k})


def _labels_and_feats(store: ArtifactStore, p: Mapping[str, Any], split: str) -> tuple[list[dict[str, np.ndarray]],
                                                                                      dict[str, np.ndarray]]:
    task = _task(p["target"])
    feats = [_arrays(store, p["features"][s][split]) for s in p["sources"]]
    data = {task.target: _array(store, p["labels"][split])}
    return feats, data


def _transfer(job: Job, store: ArtifactStore, progress: Progress) -> None:
    from taskonomy.training import evaluate_transfer, train_transfer  # torch: when the job runs

    p = job.params
    model = _model(p["model"])
    feats, data = _labels_and_feats(store, p, "transfer")
    target = _task(p["target"])
    net = train_transfer(target, feats, data, model=model, train=_train_config(p["train"], p["seed"]),
                         progress=progress)
    tfeats, tdata = _labels_and_feats(store, p, "test")
    store_transfer(store, p, net, evaluate_transfer(target, net, tfeats, tdata, model=model))


def store_transfer(store: ArtifactStore, p: Mapping[str, Any], net: Any | None, losses: np.ndarray,
                   **metadata: Any) -> None:
    """A transfer job's per-test-image losses, and the trained network's weights for the model
    bank (``net`` None: a partly trained one, e.g. stopped by successive halving, is not kept)."""
    if net is not None:
        save_network(store, transfer_weights_key(p["output"]), net)
    store.put_tensors(p["output"], {ARRAY: np.asarray(losses, dtype=np.float64)},
                      metadata={"target": p["target"], "sources": list(p["sources"]), "kind": p["candidate_kind"],
                                **metadata})


class FusedTransfers:
    """The transfer jobs ``params`` (one model, training config and seed) in one fused trainer.

    ``trainer`` is a :class:`~taskonomy.training.fused.FusedTransferTrainer` over their readouts
    (features and labels read from the store once each); :meth:`evaluate` gives readout ``i``'s
    per-test-image losses. Used by ``transfer_group`` jobs and by ``run --mode fused|halving``.
    """

    def __init__(self, params: Sequence[Mapping[str, Any]], store: ArtifactStore, *, workers: int = 1) -> None:
        from taskonomy.training.fused import FusedTransferTrainer, Readout  # torch: when the job runs

        if not params:
            raise InvalidInputError("no transfer jobs to train together")
        p0 = params[0]
        if any(p["model"] != p0["model"] or p["train"] != p0["train"] or p["seed"] != p0["seed"] for p in params):
            raise InvalidInputError("transfer jobs trained together must agree in model, training and seed")
        self.params = list(params)
        self.arrays = StoredArrays(store)
        self.targets = [_task(p["target"]) for p in params]
        self.readouts = [Readout(t, self.features(p, "transfer"), {t.target: self.arrays(p["labels"]["transfer"])})
                         for t, p in zip(self.targets, params, strict=True)]
        self.trainer = FusedTransferTrainer(self.readouts, model=_model(p0["model"]),
                                            train=_train_config(p0["train"], p0["seed"]), workers=workers)

    def features(self, p: Mapping[str, Any], split: str) -> list[dict[str, np.ndarray]]:
        return [self.arrays.features(p["features"][s][split]) for s in p["sources"]]

    def evaluate(self, i: int) -> np.ndarray:
        p, t = self.params[i], self.targets[i]
        return self.trainer.evaluate(i, self.features(p, "test"), {t.target: self.arrays(p["labels"]["test"])})


def _transfer_group(job: Job, store: ArtifactStore, progress: Progress) -> None:
    """Train the group's transfers that have no output yet together (one fused trainer)."""
    todo = [p for p in job.params["members"] if not store.exists(p["output"])]
    if not todo:
        return
    fused = FusedTransfers(todo, store)
    try:
        nets = fused.trainer.run(progress=progress)
        for i, (p, net) in enumerate(zip(todo, nets, strict=True)):
            store_transfer(store, p, net, fused.evaluate(i), mode="fused")
    finally:
        fused.trainer.close()


def _baseline(job: Job, store: ArtifactStore, progress: Progress) -> None:
    from taskonomy.training import evaluate_network, train_pixels_baseline  # torch: when the job runs

    p = job.params
    model = _model(p["model"])
    target = _task(p["target"])
    net = train_pixels_baseline(target, _arrays(store, p["data"]["transfer"]), model=model,
                                train=_train_config(p["train"], p["seed"]), progress=progress)
    losses = np.asarray(evaluate_network(target, net, _arrays(store, p["data"]["test"]), model=model),
                        dtype=np.float64)
    store.put_tensors(p["output"], {ARRAY: losses}, metadata={"target": p["target"], "kind": PIXELS})


def _evaluate(job: Job, store: ArtifactStore, progress: Progress) -> None:
    from taskonomy.training import evaluate_network, predict  # torch: when the job runs

    p = job.params
    task = _task(p["task"])
    model = _model(p["model"])
    net = load_network(store, p["net"])
    data = _arrays(store, p["data"])
    losses = np.asarray(evaluate_network(task, net, data, model=model), dtype=np.float64)
    n = min(int(p["n_preview"]), len(losses))
    head = {k: v[:n] for k, v in data.items()}
    preds = np.asarray(predict(task, net, head, model=model))
    preview = {"prediction": preds, "target": head[task.target]}
    for i, k in enumerate(task.inputs):
        preview[f"input{i}"] = head[k]
    store.put_tensors(p["preview"], preview, metadata={"task": p["task"], "inputs": list(task.inputs)})
    store.put_tensors(p["output"], {ARRAY: losses}, metadata={"target": p["task"], "kind": SELF})


def rank_first_order(losses: np.ndarray) -> np.ndarray:
    """Order candidates by their mean pairwise win rate (best first).

    With ``L`` of shape (n_candidates, n_images), ``W[i, j]`` is the fraction of images where
    ``L[i] < L[j]``; the score of ``i`` is the mean of row ``i`` over ``j != i`` (a Borda count
    of the image-wise tournament the AHP later weighs). Ties keep the input order.
    """
    n = losses.shape[0]
    wins = (losses[:, None, :] < losses[None, :, :]).mean(axis=2)
    score = (wins.sum(axis=1)) / max(n - 1, 1)
    return np.argsort(-score, kind="stable")


def _plan(job: Job, store: ArtifactStore, progress: Progress) -> None:
    p = job.params
    fo = list(p["first_order"])
    losses = np.stack([_array(store, c["losses"]) for c in fo])
    order = rank_first_order(losses)
    ranked = [fo[i]["sources"][0] for i in order]
    cands = [tuple(c) for c in higher_order_candidates(ranked[: int(p["beam"])], max_order=int(p["max_order"]))]
    cands = [c for c in cands if len(c) >= 2]
    out = []
    for sources in cands:
        tj = transfer_job(target=p["target"], sources=sources, cand_kind="higher_order",
                          feature_keys=p["feature_keys"], label_keys=p["label_keys"], model=p["model"],
                          train=p["train"], seed=p["seed"], stage="higher_order")
        out.append({"sources": list(sources), "kind": candidate_kind(p["target"], sources),
                    "losses": tj.outputs[0]})
    store.put_json(p["output"], {"target": p["target"], "ranked": ranked,
                                 "candidates": [c["sources"] for c in out], "higher_order": out})


def _finalize(job: Job, store: ArtifactStore, progress: Progress) -> None:
    finalize(job.params, store)


HANDLERS: dict[str, Callable[[Job, ArtifactStore, Progress], None]] = {
    "render": _render,
    "train": _train,
    "random_encoder": _random_encoder,
    "features": _features,
    "transfer": _transfer,
    "transfer_group": _transfer_group,
    "baseline": _baseline,
    "evaluate": _evaluate,
    "plan_higher_order": _plan,
    "finalize": _finalize,
}
