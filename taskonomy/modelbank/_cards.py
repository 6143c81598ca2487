"""Model cards: one JSON document beside every trained network's safetensors weights.

A card says what a network is and how well it does, from the artifact store alone (no torch):
the task, its role (``task_specific`` or ``transfer``), the architecture (the
:mod:`taskonomy.nets` builder and its :class:`~taskonomy.nets.ModelConfig`), the data it was
trained on (world spec or dataset folder, the split), the training settings and figures, its
per-image test losses summarised and, for transfers (and task networks that are targets), the
AHP affinity, gain (win rate against ``pixels``) and quality (win rate against ``self``) of the
experiment that listed it.

Keys: the weights of a task network live under its ``nets/...`` key (written by the ``train``
job), a transfer's under :func:`~taskonomy.contract.keys.transfer_weights_key` of its losses
key (written by the ``transfer`` job); the card lives under :func:`card_key` (``<weights key>.card.json``). The
experiment's list of cards is the index ``experiments/<id>/models.json``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from taskonomy.errors import CorruptArtifactError, NotFoundError
from taskonomy.store import ArtifactStore
from taskonomy.tasks import get_task

#: Format tag of a card.
CARD_FORMAT = "taskonomy.modelcard/1"
CARD_SUFFIX = ".card.json"
#: Fields every card has (values may be null only where noted in :func:`build_card`).
CARD_FIELDS: tuple[str, ...] = (
    "format", "key", "weights", "sha256", "bytes", "task", "title", "role", "sources", "candidate_kind",
    "experiment", "experiment_role", "architecture", "data", "training", "test", "transfer",
)
#: A card's ``role``: the network of one task trained from scratch, or a transfer readout on
#: frozen source encoders (not the experiment spec's task roles: target, source-only, target-only).
MODEL_ROLES: tuple[str, ...] = ("task_specific", "transfer")


def card_key(weights_key: str) -> str:
    """The key of the card beside ``weights_key``."""
    return weights_key + CARD_SUFFIX


def index_key(experiment_id: str) -> str:
    """The experiment's list of model cards."""
    return f"experiments/{experiment_id}/models.json"


@dataclass(frozen=True)
class ModelEntry:
    """One network of an experiment, as its job graph names it (before anything is read)."""

    key: str
    task: str
    role: str
    sources: tuple[str, ...] = ()
    candidate_kind: str = "self_full_supervision"
    losses: str | None = None
    trained_on: str = "train"


def weights_header(blob: bytes) -> dict[str, Any]:
    """The ``taskonomy`` JSON of a network's safetensors header, read without torch."""
    if len(blob) < 8:
        raise CorruptArtifactError("network file is truncated")
    n = int.from_bytes(blob[:8], "little")
    if n <= 0 or 8 + n > len(blob):
        raise CorruptArtifactError("network file is not a safetensors file")
    try:
        header = json.loads(blob[8:8 + n])
        meta = json.loads(header["__metadata__"]["taskonomy"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptArtifactError(f"network file has no readable taskonomy metadata: {exc!r}") from None
    if not isinstance(meta, dict):
        raise CorruptArtifactError("network metadata is not a JSON object")
    return meta


def _losses_summary(store: ArtifactStore, key: str | None, loss_name: str) -> dict[str, Any] | None:
    if not key or not store.exists(key):
        return None
    import numpy as np

    arr = store.get_tensors(key).get("x")
    if arr is None or arr.size == 0:
        return None
    a = np.asarray(arr, dtype=np.float64)
    return {"loss": loss_name, "split": "test", "n_images": int(a.size), "mean": float(a.mean()),
            "median": float(np.median(a)), "std": float(a.std()), "losses": key}


def build_card(entry: ModelEntry, *, store: ArtifactStore, spec: Mapping[str, Any], experiment_id: str,
               summary: Mapping[str, Any] | None) -> dict[str, Any]:
    """The card of ``entry`` (its weights must exist); ``spec`` is the experiment spec as JSON.

    ``test`` is null for a task network that was not evaluated (a source-only task); ``transfer``
    is null for a task network that is not a target of the experiment.
    """
    blob = store.get_bytes(entry.key)
    header = weights_header(blob)
    task = get_task(entry.task)
    transfer_role = entry.role == "transfer"
    train_spec = dict(spec.get("transfer" if transfer_role else "train", {}))
    metrics = {k: v for k, v in dict(header.get("metrics", {})).items()}
    ranking = _ranking(summary, entry)
    roles = {t["name"]: t["role"] for t in spec.get("tasks", []) if isinstance(t, Mapping)}
    return {
        "format": CARD_FORMAT,
        "key": card_key(entry.key),
        "weights": entry.key,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "bytes": len(blob),
        "task": task.name,
        "title": task.title,
        "role": entry.role,
        "sources": list(entry.sources),
        "candidate_kind": entry.candidate_kind,
        "experiment": experiment_id,
        "experiment_role": roles.get(task.name),
        "architecture": {
            "builder": "taskonomy.nets.build_transfer" if transfer_role else "taskonomy.nets.build_task_network",
            "loader": "taskonomy.training.load_network",
            "network_kind": header.get("kind"),
            "model": dict(header.get("model") or spec.get("model") or {}),
            "image_size": int(header.get("size", 0)),
            "n_sources": int(header.get("n_sources", 0)),
            "inputs": list(task.inputs),
            "output": {"kind": task.output.kind, "channels": task.output.channels, "target": task.target},
        },
        "data": {"dataset": dict(spec.get("dataset", {})), "splits": dict(spec.get("splits", {})),
                 "trained_on": entry.trained_on,
                 "features_of": list(entry.sources) if transfer_role else []},
        "training": {**train_spec, "seed": int(spec.get("seed", 0)), "loss": task.loss, "metrics": metrics},
        "test": _losses_summary(store, entry.losses, task.test_loss),
        "transfer": ranking,
    }


def _ranking(summary: Mapping[str, Any] | None, entry: ModelEntry) -> dict[str, Any] | None:
    """Affinity, gain and quality of the entry's candidate in the experiment's AHP tournament."""
    if not summary or not entry.losses:
        return None
    target = summary.get("targets", {}).get(entry.task)
    if not target:
        return None
    for i, cand in enumerate(target.get("candidates", [])):
        if cand.get("losses") == entry.losses:
            quality = target.get("quality")
            return {"target": entry.task, "sources": list(cand.get("sources", [])), "kind": cand.get("kind"),
                    "affinity": float(target["affinity"][i]), "gain": float(target["gain"][i]),
                    "quality": None if quality is None else float(quality[i])}
    return None


def read_card(store: ArtifactStore, key: str) -> dict[str, Any]:
    """A stored card by its own key or by its weights key."""
    ck = key if key.endswith(CARD_SUFFIX) else card_key(key)
    try:
        card = store.get_json(ck)
    except NotFoundError:
        raise NotFoundError(f"no model card {ck!r} in {store.url}") from None
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise CorruptArtifactError(f"{ck!r} is not a model card")
    return card
