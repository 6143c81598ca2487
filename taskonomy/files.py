"""Local files written safely: one atomic write, and the check that a directory can be written.

:func:`atomic_write` is the only way the core (and the services) replace a file on a local
disk: readers see the old file or the whole new one, never a part, and two writers of the same
file never share a temporary name.
"""

from __future__ import annotations

import os
import uuid

from taskonomy.errors import InvalidInputError


def atomic_write(path: str | os.PathLike[str], data: bytes | str, *, encoding: str = "utf-8") -> None:
    """Write ``data`` (bytes, or text in ``encoding``) to ``path`` atomically.

    The bytes go to a temporary file with a unique name in the same directory (``.<name>.<random>.tmp``:
    hidden, and on the same filesystem, so the rename is atomic), are flushed and fsynced, and the
    file is renamed over ``path``. On any failure the temporary file is removed and ``path`` is
    left as it was. The directory must exist.
    """
    blob = data.encode(encoding) if isinstance(data, str) else data
    target = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(target))
    tmp = os.path.join(directory, f".{name}.{uuid.uuid4().hex}.tmp")
    # O_EXCL: never someone else's file; 0o666 under the umask: the permissions a plain open() gives.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def check_writable_dir(path: str | os.PathLike[str], *, what: str = "output directory") -> str:
    """Create ``path`` if needed and prove it can be written (a probe file); returns it absolute."""
    p = os.path.abspath(os.fspath(path))
    if os.path.exists(p) and not os.path.isdir(p):
        raise InvalidInputError(f"{what} {p!r} exists and is not a directory")
    try:
        os.makedirs(p, exist_ok=True)
        probe = os.path.join(p, f".write-probe-{uuid.uuid4().hex}")
        with open(probe, "wb") as fh:
            fh.write(b"ok")
        os.remove(probe)
    except OSError as exc:
        raise InvalidInputError(f"{what} {p!r} cannot be written: {exc.strerror or exc}") from None
    return p
