"""Trained networks and their safetensors serialisation (never pickle).

A network file is one safetensors file: the state dict as tensors, and a JSON description
(task, kind, image size, sources, model config, metrics) under the ``taskonomy`` key of the
safetensors header metadata.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from taskonomy.errors import CorruptArtifactError, InvalidInputError, PreconditionError
from taskonomy.files import atomic_write

FORMAT = "taskonomy.network/1"
#: Kinds of trained network: a task-specific network, the ``pixels`` baseline (same
#: architecture, trained on the small split) and a transfer from frozen features.
NETWORK_KINDS: tuple[str, ...] = ("task", "pixels", "transfer")


@dataclass
class TrainedNetwork:
    """A trained (frozen) network.

    Attributes:
        task: the task it predicts.
        state: ``encoder.*`` + ``decoder.*`` (task / pixels) or ``transfer.*`` + ``decoder.*``
            (transfer), plus ``target.shift`` / ``target.scale`` (target standardisation).
        metrics: training figures (``train_loss``, ``steps``, ``seconds``, ``n_train``...).
        kind: one of :data:`NETWORK_KINDS`.
        n_sources: number of source representations a transfer reads (0 otherwise).
        size: image side it was built for.
        model: the :class:`~taskonomy.nets.ModelConfig` (as a dict) it was built with.
    """

    task: str
    state: dict[str, torch.Tensor]
    metrics: dict[str, float] = field(default_factory=dict)
    kind: str = "task"
    n_sources: int = 0
    size: int = 0
    model: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """The JSON metadata stored next to the tensors."""
        return {
            "format": FORMAT, "task": self.task, "kind": self.kind, "n_sources": self.n_sources,
            "size": self.size, "model": self.model, "metrics": self.metrics,
        }


def network_to_bytes(net: TrainedNetwork) -> bytes:
    """Serialise to safetensors bytes (for object stores)."""
    if net.kind not in NETWORK_KINDS:
        raise InvalidInputError(f"network kind must be one of {', '.join(NETWORK_KINDS)}, got {net.kind!r}")
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in net.state.items()}
    return st_save(tensors, metadata={"taskonomy": json.dumps(net.describe(), sort_keys=True)})


def _header_metadata(blob: bytes) -> dict[str, str]:
    if len(blob) < 8:
        raise CorruptArtifactError("network file is truncated (shorter than a safetensors header)")
    n = int.from_bytes(blob[:8], "little")
    if n <= 0 or 8 + n > len(blob):
        raise CorruptArtifactError("network file is truncated or not a safetensors file")
    try:
        header = json.loads(blob[8 : 8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptArtifactError(f"network file has an unreadable safetensors header: {exc}") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return meta if isinstance(meta, dict) else {}


def network_from_bytes(blob: bytes) -> TrainedNetwork:
    """Inverse of :func:`network_to_bytes`; malformed input raises CorruptArtifactError."""
    meta_raw = _header_metadata(blob).get("taskonomy")
    if meta_raw is None:
        raise CorruptArtifactError("safetensors file has no 'taskonomy' metadata: not a taskonomy network")
    try:
        meta = json.loads(meta_raw)
        state = st_load(blob)
    except (json.JSONDecodeError, SafetensorError, ValueError) as exc:
        raise CorruptArtifactError(f"network file could not be decoded: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CorruptArtifactError(f"network metadata has an unknown format (expected {FORMAT!r})")
    try:
        return TrainedNetwork(
            task=str(meta["task"]), state=dict(state), metrics={k: float(v) for k, v in meta["metrics"].items()},
            kind=str(meta["kind"]), n_sources=int(meta["n_sources"]), size=int(meta["size"]),
            model=dict(meta["model"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CorruptArtifactError(f"network metadata is incomplete: {exc!r}") from None


def save_network(net: TrainedNetwork, path: str | os.PathLike[str]) -> None:
    """Write ``net`` to ``path`` atomically (temporary file, then rename)."""
    atomic_write(path, network_to_bytes(net))


def load_network(path: str | os.PathLike[str]) -> TrainedNetwork:
    """Read a network written by :func:`save_network` (a missing file raises FileNotFoundError)."""
    with open(os.fspath(path), "rb") as fh:
        return network_from_bytes(fh.read())


def encoder_state(net: TrainedNetwork) -> dict[str, torch.Tensor]:
    """The frozen encoder of a task-specific (or pixels) network, keys without the ``encoder.`` prefix."""
    if net.kind == "transfer":
        raise PreconditionError(f"network for {net.task!r} is a transfer: it has no encoder of its own")
    state = {k[len("encoder."):]: v for k, v in net.state.items() if k.startswith("encoder.")}
    if not state:
        raise CorruptArtifactError(f"network for {net.task!r} has no encoder.* tensors")
    return state
