"""How jobs read and write their artifacts: arrays, networks, per-image losses.

A data, features or losses artifact holds one array named :data:`ARRAY`; a network is the
training package's safetensors bytes. The torch-using helpers import :mod:`taskonomy.training`
when they are called, so importing this module loads no torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from taskonomy.errors import CorruptArtifactError
from taskonomy.store import ArtifactStore

#: Name of the single array in a data, features or losses artifact.
ARRAY = "x"


def read_array(store: ArtifactStore, key: str) -> np.ndarray:
    """The array of a data, features or losses artifact."""
    tensors = store.get_tensors(key)
    if ARRAY not in tensors:
        raise CorruptArtifactError(f"artifact {key!r} holds no array {ARRAY!r}")
    return tensors[ARRAY]


def read_arrays(store: ArtifactStore, keys: Mapping[str, str]) -> dict[str, np.ndarray]:
    """``name -> array`` for ``name -> artifact key``."""
    return {name: read_array(store, key) for name, key in keys.items()}


def write_array(store: ArtifactStore, key: str, array: np.ndarray, **metadata: Any) -> None:
    """Store ``array`` as the single array of artifact ``key``."""
    store.put_tensors(key, {ARRAY: np.ascontiguousarray(array)}, metadata=metadata)


def read_losses(store: ArtifactStore, key: str) -> np.ndarray:
    """Per-test-image losses (float64)."""
    return np.asarray(read_array(store, key), dtype=np.float64)


class StoredArrays:
    """Arrays read from an artifact store once each, for code that reads them for many jobs.

    :meth:`features` returns one mapping object per selection of feature artifacts: the fused
    trainer shares batches, and the proxies' cache rows, by the identity of a source's feature
    mapping, so every reader of the same features gets the same object.
    """

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self._arrays: dict[str, np.ndarray] = {}
        self._maps: dict[tuple[tuple[str, str], ...], dict[str, np.ndarray]] = {}

    def __call__(self, key: str) -> np.ndarray:
        if key not in self._arrays:
            self._arrays[key] = read_array(self.store, key)
        return self._arrays[key]

    def features(self, keys: Mapping[str, str], inputs: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Input key → array for one source's feature artifacts (only ``inputs``, if given)."""
        chosen = tuple(sorted((k, v) for k, v in keys.items() if inputs is None or k in inputs))
        if chosen not in self._maps:
            self._maps[chosen] = {k: self(v) for k, v in chosen}
        return self._maps[chosen]


def store_network(store: ArtifactStore, key: str, net: Any) -> None:
    """Store a ``TrainedNetwork`` as safetensors (the training package's own format)."""
    from taskonomy.training import network_to_bytes  # torch: only when a job runs

    store.put_bytes(key, network_to_bytes(net), meta={"task": net.task, "kind": net.kind,
                                                      "metrics": _jsonable_metrics(net.metrics)})


def read_network(store: ArtifactStore, key: str) -> Any:
    """A stored task network as ``taskonomy.training.TrainedNetwork``."""
    from taskonomy.training import network_from_bytes  # torch: when the job runs

    return network_from_bytes(store.get_bytes(key))


def encoder_state(store: ArtifactStore, key: str) -> dict[str, Any]:
    """The encoder weights of a stored network (or of the random encoder, stored encoder-only)."""
    import torch

    meta = store.meta(key)
    if meta.get("encoder_only"):
        return {k: torch.from_numpy(np.array(v)) for k, v in store.get_tensors(key).items()}
    from taskonomy.training import encoder_state as state_of  # torch: when the job runs

    return dict(state_of(read_network(store, key)))


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
