"""The artifact store: content-addressed blobs over fsspec (``file://`` by default, ``s3://`` in clusters).

Every artifact is a blob under a *key* (a relative, slash-separated name such as
``nets/normal-3fa2c1``) plus a small sidecar ``<key>.meta.json`` holding its sha256 checksum,
size and caller metadata. The sidecar is written *after* the blob and is the commit marker:
an artifact "exists" only when its sidecar does, so a write interrupted half-way is simply
absent and gets recomputed. Reads verify the checksum and raise
:class:`~taskonomy.errors.CorruptArtifactError` on a mismatch, never returning bad bytes.

Writes are atomic: on a local filesystem through :func:`taskonomy.files.atomic_write` (a
temporary name in the same directory, renamed into place); on S3 each object is one PUT.

Tensors are stored as safetensors through its numpy API (the store never imports torch;
torch tensors are accepted and converted with ``.detach().cpu().numpy()``). Nothing is ever
unpickled.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from taskonomy.errors import CorruptArtifactError, InvalidInputError, NotFoundError, PreconditionError
from taskonomy.files import atomic_write

#: Suffix of the sidecar that holds an artifact's checksum and metadata.
META_SUFFIX = ".meta.json"
_TMP_MARK = ".tmp-"
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-=+]*$")
#: Environment variable naming the S3 endpoint (e.g. a MinIO or moto server) for ``s3://`` stores.
S3_ENDPOINT_ENV = "TASKONOMY_S3_ENDPOINT"
#: URL schemes whose writes are atomic as the store needs them (a rename on a local filesystem,
#: one PUT on S3); a plain path is ``file``.
STORE_SCHEMES: tuple[str, ...] = ("file", "s3")


def validate_key(key: str) -> str:
    """Check that ``key`` is a safe relative artifact name and return it.

    Allowed: segments of letters, digits and ``_ . - = +`` separated by single ``/``; no empty,
    ``.`` or ``..`` segment, no leading ``/``, no reserved sidecar/temporary suffix.
    """
    if not isinstance(key, str) or not key:
        raise InvalidInputError("artifact key must be a non-empty string")
    if len(key) > 512:
        raise InvalidInputError(f"artifact key is too long ({len(key)} > 512 characters)")
    if key.startswith("/") or "\\" in key or ":" in key:
        raise InvalidInputError(f"artifact key {key!r} must be a relative path without '\\' or ':'")
    for segment in key.split("/"):
        if segment in ("", ".", "..") or not _SEGMENT.match(segment):
            raise InvalidInputError(
                f"artifact key {key!r}: segment {segment!r} is not allowed (use letters, digits and _ . - = +, "
                "no empty, '.' or '..' segments)")
    if key.endswith(META_SUFFIX) or _TMP_MARK in key:
        raise InvalidInputError(f"artifact key {key!r} uses a reserved suffix ({META_SUFFIX!r} or {_TMP_MARK!r})")
    return key


def store_scheme(url: str) -> str:
    """The scheme of an artifact store URL (``file`` for a plain path), if the store supports it
    (:data:`STORE_SCHEMES`); otherwise an InvalidInputError naming the URL."""
    protocol = url.split("://", 1)[0].lower() if "://" in url else "file"
    if protocol not in STORE_SCHEMES:
        raise InvalidInputError(f"artifact store {url!r}: unsupported scheme {protocol!r}; use a directory, a "
                                "file:// or an s3:// URL")
    return protocol


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, converted without importing torch
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype == object:
        raise InvalidInputError("tensors must be numeric arrays, not objects")
    return np.ascontiguousarray(arr)


class ArtifactStore:
    """Blobs, JSON and safetensors under content-addressed keys, over any fsspec filesystem.

    Args:
        url: a directory path, ``file://`` URL or ``s3://bucket/prefix`` URL.
        storage_options: passed to fsspec. For ``s3://`` the endpoint defaults to the
            ``TASKONOMY_S3_ENDPOINT`` environment variable when set.
    """

    def __init__(self, url: str | os.PathLike[str], *, storage_options: Mapping[str, Any] | None = None) -> None:
        import fsspec

        url = os.fspath(url)
        if not url:
            raise InvalidInputError("artifact store URL must not be empty")
        options = dict(storage_options or {})
        protocol = store_scheme(url)
        if protocol == "s3":
            endpoint = os.environ.get(S3_ENDPOINT_ENV)
            if endpoint and "endpoint_url" not in options and "endpoint_url" not in options.get("client_kwargs", {}):
                options["endpoint_url"] = endpoint
        try:
            fs, root = fsspec.core.url_to_fs(url, **options)
        except (ImportError, ValueError) as exc:
            raise InvalidInputError(f"cannot open artifact store {url!r}: {exc}") from None
        self.url = url
        self.protocol = protocol
        self.fs = fs
        self.root = root.rstrip("/")
        self._local = protocol == "file"
        if self._local:
            self.root = os.path.abspath(self.root)

    def __repr__(self) -> str:
        return f"ArtifactStore({self.url!r})"

    # -- paths -------------------------------------------------------------------------------
    def _path(self, key: str) -> str:
        return f"{self.root}/{validate_key(key)}"

    def _meta_path(self, key: str) -> str:
        return self._path(key) + META_SUFFIX

    def _write_atomic(self, path: str, data: bytes) -> None:
        if self._local:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            atomic_write(path, data)
        else:
            self.fs.pipe_file(path, data)  # one PUT: atomic on S3

    # -- bytes -------------------------------------------------------------------------------
    def exists(self, key: str) -> bool:
        """True when the artifact was completely written (its checksum sidecar exists)."""
        return bool(self.fs.exists(self._meta_path(key)))

    def put_bytes(self, key: str, data: bytes, *, meta: Mapping[str, Any] | None = None) -> str:
        """Store ``data`` under ``key`` atomically with its sha256; returns the checksum."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInputError(f"put_bytes needs bytes, got {type(data).__name__}")
        data = bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        sidecar = {"key": key, "sha256": digest, "size": len(data), "meta": dict(meta or {})}
        try:
            sidecar_bytes = json.dumps(sidecar, sort_keys=True).encode()
        except TypeError as exc:
            raise InvalidInputError(f"artifact metadata for {key!r} must be JSON-serialisable: {exc}") from None
        self._write_atomic(self._path(key), data)
        self._write_atomic(self._meta_path(key), sidecar_bytes)
        return digest

    def _sidecar(self, key: str) -> dict[str, Any]:
        path = self._meta_path(key)
        try:
            raw = self.fs.cat_file(path)
        except FileNotFoundError:
            raise NotFoundError(f"artifact {key!r} not found in {self.url}") from None
        try:
            sidecar = json.loads(raw)
            assert isinstance(sidecar, dict)
            str(sidecar["sha256"])
        except Exception:
            raise CorruptArtifactError(f"artifact {key!r}: its checksum sidecar is unreadable") from None
        return sidecar

    def meta(self, key: str) -> dict[str, Any]:
        """The caller metadata stored with ``key``."""
        return dict(self._sidecar(key).get("meta", {}))

    def get_bytes(self, key: str) -> bytes:
        """The bytes under ``key``, verified against the stored sha256."""
        sidecar = self._sidecar(key)
        try:
            data = bytes(self.fs.cat_file(self._path(key)))
        except FileNotFoundError:
            raise CorruptArtifactError(f"artifact {key!r}: checksum present but data missing") from None
        if hashlib.sha256(data).hexdigest() != sidecar["sha256"]:
            raise CorruptArtifactError(f"artifact {key!r}: sha256 mismatch (the stored bytes are corrupt)")
        return data

    def verify(self, key: str) -> bool:
        """True when ``key`` exists and its bytes match the stored checksum."""
        try:
            self.get_bytes(key)
        except (NotFoundError, CorruptArtifactError):
            return False
        return True

    # -- JSON --------------------------------------------------------------------------------
    def put_json(self, key: str, obj: Any, *, meta: Mapping[str, Any] | None = None) -> str:
        try:
            data = json.dumps(obj, sort_keys=True, indent=1).encode()
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"artifact {key!r} is not JSON-serialisable: {exc}") from None
        return self.put_bytes(key, data, meta=meta)

    def get_json(self, key: str) -> Any:
        data = self.get_bytes(key)
        try:
            return json.loads(data)
        except ValueError:
            raise CorruptArtifactError(f"artifact {key!r} is not valid JSON") from None

    # -- tensors -----------------------------------------------------------------------------
    def put_tensors(self, key: str, tensors: Mapping[str, Any], metadata: Mapping[str, Any] | None = None) -> str:
        """Store named arrays (numpy or torch) as safetensors; ``metadata`` is kept JSON-encoded."""
        from safetensors.numpy import save

        arrays = {str(name): _to_numpy(value) for name, value in tensors.items()}
        meta = dict(metadata or {})
        try:
            header = {"taskonomy": json.dumps(meta, sort_keys=True)}
        except TypeError as exc:
            raise InvalidInputError(f"tensor metadata for {key!r} must be JSON-serialisable: {exc}") from None
        return self.put_bytes(key, save(arrays, metadata=header), meta=meta)

    def get_tensors(self, key: str) -> dict[str, np.ndarray]:
        """The arrays stored under ``key`` (checksum verified)."""
        from safetensors.numpy import load

        data = self.get_bytes(key)
        try:
            return dict(load(data))
        except Exception as exc:
            raise CorruptArtifactError(f"artifact {key!r} is not a readable safetensors file: {exc}") from None

    # -- housekeeping ------------------------------------------------------------------------
    def delete(self, key: str) -> bool:
        """Remove an artifact (sidecar first, so a half-deleted one reads as absent)."""
        removed = False
        for path in (self._meta_path(key), self._path(key)):
            try:
                self.fs.rm_file(path)
                removed = True
            except FileNotFoundError:
                pass
        return removed

    def list(self, prefix: str = "") -> list[str]:
        """Keys of every complete artifact whose key starts with ``prefix``, sorted."""
        if prefix:
            head = prefix.rstrip("/")
            validate_key(head)
        base = self.root
        try:
            found = self.fs.find(base)
        except FileNotFoundError:
            return []
        keys: list[str] = []
        for path in found:
            path = str(path)
            if not path.endswith(META_SUFFIX):
                continue
            rel = path[len(base):].lstrip("/") if path.startswith(base) else path.split(base.lstrip("/"), 1)[-1]
            rel = rel.lstrip("/")[: -len(META_SUFFIX)]
            if rel.startswith(prefix):
                keys.append(rel)
        return sorted(keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self.list())

    def check_writable(self, *, timeout_s: float = 20.0) -> None:
        """Prove the store can be reached and written: write a probe object and delete it.

        Raises :class:`~taskonomy.errors.PreconditionError` naming the store and the problem (not
        reachable, not writable, no answer within ``timeout_s``).
        """
        path = f"{self.root}/_probe/{uuid.uuid4().hex}"
        outcome: list[BaseException | None] = []

        def probe() -> None:
            try:
                self._write_atomic(path, b"taskonomy store probe")
                self.fs.rm_file(path)
                if self._local:
                    with contextlib.suppress(OSError):  # another probe may be using it
                        os.rmdir(os.path.dirname(path))
                outcome.append(None)
            except BaseException as exc:  # reported by the caller's thread
                outcome.append(exc)

        thread = threading.Thread(target=probe, name="store-probe", daemon=True)
        thread.start()
        thread.join(timeout_s)
        if not outcome:
            raise PreconditionError(f"artifact store {self.url!r} did not answer within {timeout_s:g} s")
        exc = outcome[0]
        if exc is not None:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
            raise PreconditionError(f"artifact store {self.url!r} cannot be written: {reason}") from None


def check_store(url: str | os.PathLike[str], *, timeout_s: float = 20.0) -> ArtifactStore:
    """The artifact store at ``url``, checked before any work is accepted: a supported scheme
    (InvalidInputError), reachable and writable (PreconditionError, see
    :meth:`ArtifactStore.check_writable`)."""
    store = ArtifactStore(url)
    store.check_writable(timeout_s=timeout_s)
    return store
