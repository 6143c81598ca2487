"""Content-addressed artifact keys.

An artifact's key is ``<kind>/<hint>-<digest>`` where the digest hashes *exactly* the inputs
that determine the artifact: the dataset spec (with the world's renderer version), the task, the
model and training configs (every field, defaults filled in), the seed and the keys of the
artifacts it reads. The experiment that asked for it never enters, so
two experiments sharing a network share its key, and adding a task to a finished experiment
reuses every artifact that does not involve the new task.

The digest is the sha256 of the canonical JSON of the inputs (sorted keys, no whitespace),
truncated to 20 hex digits (80 bits), plus a code version that changes when the meaning of an
artifact changes.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

#: Bump when the contents of an artifact kind change meaning (invalidates every key). 2: the keys
#: hash every block resolved (defaults filled in) and a world dataset's renderer version; keys of
#: version 1 could name artifacts of another renderer or of other defaults, so none is reused.
PIPELINE_VERSION = 2
_HINT = re.compile(r"[^A-Za-z0-9_.+=-]+")


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, compact separators, floats via repr."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_default)


def _default(obj: Any) -> Any:
    if isinstance(obj, tuple | set | frozenset):
        return sorted(obj) if isinstance(obj, set | frozenset) else list(obj)
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"cannot hash a {type(obj).__name__} into an artifact key")


def digest(obj: Any, *, length: int = 20) -> str:
    """Hex sha256 of the canonical JSON of ``obj``, truncated to ``length`` digits."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


def artifact_key(kind: str, hint: str, /, **inputs: Any) -> str:
    """``<kind>/<hint>-<digest(inputs)>``; ``hint`` is for humans only and does not enter the hash."""
    body = {"artifact": kind, "version": PIPELINE_VERSION, **inputs}
    safe_hint = _HINT.sub("_", hint)[:60] or "x"
    return f"{kind}/{safe_hint}-{digest(body)}"


# -- the artifacts of an experiment ----------------------------------------------------------

def dataset_key(dataset: dict[str, Any], splits: dict[str, int]) -> str:
    """Identity of a rendered / loaded dataset (no file of its own: the data keys derive from it).

    ``dataset`` is the spec's dataset identity (``spec.dataset.identity()``: every field resolved
    and, for the built-in world, the key of its WorldSpec with the renderer's version)."""
    return digest({"dataset": dataset, "splits": splits, "version": PIPELINE_VERSION})


def data_key(dataset_id: str, split: str, sample_key: str) -> str:
    """One sample key of one split, stacked over the split's images."""
    return artifact_key("data", f"{split}.{sample_key}", dataset=dataset_id, split=split, sample_key=sample_key)


def net_key(task: str, *, data: list[str], model: dict[str, Any], train: dict[str, Any], seed: int) -> str:
    """A fully supervised task-specific network (or the random encoder: ``train`` = {})."""
    return artifact_key("nets", task, task=task, data=sorted(data), model=model, train=train, seed=seed)


def features_key(net: str, *, split_data: str) -> str:
    """A frozen encoder's representation of one image key of one split (``split_data`` is its data key)."""
    return artifact_key("features", net.split("/", 1)[-1].split("-", 1)[0] + "." + split_data.split("/", 1)[-1]
                        .split("-", 1)[0], net=net, data=split_data)


def losses_key(kind: str, target: str, sources: tuple[str, ...], *, inputs: list[str], model: dict[str, Any],
               train: dict[str, Any], seed: int, estimate: dict[str, Any] | None = None) -> str:
    """Per-test-image losses of one candidate (transfer, pixels baseline or self evaluation).

    ``estimate`` says how losses other than full training's were estimated (successive halving
    and its budget); None, for fully trained ones, adds nothing, so their keys stay those of old."""
    hint = "__".join((*sources, target)) if sources else target
    extra = {} if estimate is None else {"estimate": estimate}
    return artifact_key("losses", f"{kind}.{hint}", kind=kind, target=target, sources=list(sources),
                        inputs=sorted(inputs), model=model, train=train, seed=seed, **extra)


def transfer_weights_key(losses_key: str) -> str:
    """Where a ``transfer`` job stores the trained network behind its per-image losses ``losses_key``
    (the model bank reads it from there)."""
    kind, _, rest = losses_key.partition("/")
    assert kind == "losses" and rest, losses_key
    return f"transfers/{rest}"


#: The report's page in its folder (its figures and validity.json sit beside it).
REPORT_PAGE = "report.html"


def report_prefix(experiment_id: str) -> str:
    """The store folder of a worker-run experiment's report (:func:`taskonomy.run_outputs.publish_report`)."""
    return f"experiments/{experiment_id}/report"


def report_key(experiment_id: str) -> str:
    """The store key of a worker-run experiment's ``report.html``."""
    return f"{report_prefix(experiment_id)}/{REPORT_PAGE}"
