"""World shards: a block of consecutive samples, stacked per key, in one safetensors file.

Storage encodings (decoded back to the sample contract's dtypes on read):

* ``u8``: images and [0, 1] maps, stored as ``round(255 x)``, decoded as ``q / 255``;
* ``f16``: metric maps (depths, normals, curvatures), stored as float16, decoded as float32;
* ``i32``: segment-id maps (int64 in the contract);
* ``raw``: everything else (small vectors and scalars) as rendered.

The file's metadata holds the encodings and a SHA-256 of all tensor bytes (keys in sorted
order); a file that cannot be parsed or whose checksum differs raises CorruptArtifactError.
Writes are atomic: a temporary file in the same folder, then ``os.replace``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from taskonomy.errors import CorruptArtifactError, NotFoundError
from taskonomy.files import atomic_write
from taskonomy.tasks import IMAGE_KEYS

U8_KEYS: frozenset[str] = frozenset(
    {*IMAGE_KEYS, "edge_texture", "edge_occlusion", "keypoints2d", "keypoints3d", "reshading", "meta.inpaint_mask"})
F16_KEYS: frozenset[str] = frozenset({"depth_zbuffer", "depth_euclidean", "normal", "principal_curvature"})
I32_KEYS: frozenset[str] = frozenset({"segment_unsup2d", "segment_unsup25d", "segment_semantic"})
FORMAT = "taskonomy-world-shard/1"


def _encoding(key: str) -> str:
    if key in U8_KEYS:
        return "u8"
    if key in F16_KEYS:
        return "f16"
    if key in I32_KEYS:
        return "i32"
    return "raw"


def encode(arrays: Mapping[str, NDArray[np.generic]]) -> tuple[dict[str, NDArray[np.generic]], dict[str, str]]:
    """Stacked sample arrays → (storage arrays, per-key encoding and original dtype)."""
    out: dict[str, NDArray[np.generic]] = {}
    enc: dict[str, str] = {}
    for key, a in arrays.items():
        e = _encoding(key)
        if e == "u8":
            out[key] = np.round(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
        elif e == "f16":
            out[key] = a.astype(np.float16)
        elif e == "i32":
            out[key] = a.astype(np.int32)
        else:
            out[key] = np.ascontiguousarray(a)
        enc[key] = f"{e}:{a.dtype.name}"
    return out, enc


def decode(key: str, a: NDArray[np.generic], encoding: str) -> NDArray[np.generic]:
    e, dtype = encoding.split(":")
    if e == "u8":
        return (a.astype(np.float32) / np.float32(255.0)).astype(dtype)
    return a.astype(dtype)


def _checksum(arrays: Mapping[str, NDArray[np.generic]]) -> str:
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(key.encode())
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def write_shard(path: Path, arrays: Mapping[str, NDArray[np.generic]], *, info: Mapping[str, object]) -> None:
    """Encode and write stacked arrays atomically with their checksum."""
    from safetensors.numpy import save

    stored, enc = encode(arrays)
    meta = {"format": FORMAT, "encoding": json.dumps(enc), "sha256": _checksum(stored), "info": json.dumps(dict(info))}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, save(stored, metadata=meta))


def read_shard(path: Path, *, keys: Iterable[str] | None = None) -> dict[str, NDArray[np.generic]]:
    """Read, verify and decode a shard (all keys, or only ``keys``); corrupt files raise CorruptArtifactError."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            stored = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
        if meta.get("format") != FORMAT:
            raise CorruptArtifactError(f"shard {path} is not a world shard (format {meta.get('format')!r})")
        enc = json.loads(meta["encoding"])
        expected = meta["sha256"]
    except CorruptArtifactError:
        raise
    except FileNotFoundError:
        raise
    except Exception as exc:  # safetensors raises its own error types for damaged headers/data
        raise CorruptArtifactError(
            f"shard {path} cannot be read ({type(exc).__name__}: {exc}); delete it to re-render") from None
    if _checksum(stored) != expected or set(enc) != set(stored):
        raise CorruptArtifactError(f"shard {path} failed its checksum; delete it to re-render")
    wanted = list(stored) if keys is None else list(keys)
    missing = [k for k in wanted if k not in stored]
    if missing:
        raise NotFoundError(f"shard {path} has no key(s) {', '.join(missing)}")
    return {k: decode(k, stored[k], enc[k]) for k in wanted}
