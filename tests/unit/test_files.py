"""One atomic write for every local file the core and the services replace."""

from __future__ import annotations

import os
import re
import stat
import threading
from pathlib import Path

import pytest

import taskonomy
from taskonomy.affinity import TransferRow, TransferTable
from taskonomy.errors import InvalidInputError
from taskonomy.files import atomic_write, check_writable_dir


def test_writes_bytes_and_text_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    atomic_write(path, b"one")
    assert path.read_bytes() == b"one"
    atomic_write(str(path), "twé")
    assert path.read_text(encoding="utf-8") == "twé"
    assert os.listdir(tmp_path) == ["a.json"]  # no temporary file left behind


def test_permissions_are_those_of_a_plain_open(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_bytes(b"x")
    atomic_write(tmp_path / "atomic", b"x")
    assert stat.S_IMODE((tmp_path / "atomic").stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_concurrent_writers_never_share_a_temporary_file(tmp_path: Path) -> None:
    """Eight threads replace one file 50 times each: every read sees one whole version."""
    path = tmp_path / "shared.bin"
    versions = [bytes([i]) * 200_000 for i in range(8)]
    atomic_write(path, versions[0])
    errors: list[BaseException] = []
    torn: list[bytes] = []
    stop = threading.Event()

    def write(blob: bytes) -> None:
        try:
            for _ in range(50):
                atomic_write(path, blob)
        except BaseException as exc:  # a shared temporary name fails here (or tears a version)
            errors.append(exc)

    def read() -> None:
        while not stop.is_set():
            data = path.read_bytes()
            if data not in versions:
                torn.append(data[:8])

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(v,)) for v in versions]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    reader.join()
    assert not errors and not torn
    assert path.read_bytes() in versions
    assert os.listdir(tmp_path) == ["shared.bin"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "is-a-dir"
    (target / "inside").mkdir(parents=True)  # renaming a file over a non-empty directory fails
    with pytest.raises(OSError):
        atomic_write(target, b"new")
    assert sorted(os.listdir(tmp_path)) == ["is-a-dir"]
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "missing" / "f", b"x")


def test_a_table_written_twice_at_once_is_whole(tmp_path: Path) -> None:
    """TransferTable.write used a fixed temporary name (``.<name>.tmp``) two writers would share."""
    rows = [TransferRow("normal", ("depth_zbuffer",), "first_order", 0.6, 0.7, 0.4),
            TransferRow("normal", ("random",), "random_encoder", 0.4, 0.5, 0.2)]
    table = TransferTable(rows)
    path = tmp_path / "t.csv"
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(30):
                table.write(path)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert TransferTable.read(path) == table
    assert os.listdir(tmp_path) == ["t.csv"]


def test_check_writable_dir(tmp_path: Path) -> None:
    assert check_writable_dir(tmp_path / "new") == str(tmp_path / "new")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInputError, match="not a directory"):
        check_writable_dir(tmp_path / "file")


def test_no_other_hand_written_atomic_write() -> None:
    """Renaming a temporary file into place happens in taskonomy.files alone (core and services)."""
    repo = Path(taskonomy.__file__).parent.parent
    rename = re.compile(r"\bos\.(replace|rename)\(|\.(replace|rename)\([^)\"']*tmp")
    found = [f"{p.relative_to(repo)}:{i}" for folder in ("taskonomy", "services") for p in (repo / folder).rglob("*.py")
             if "generated" not in p.parts
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if rename.search(line)]
    assert found == ["taskonomy/files.py:" + str(_replace_line())]


def _replace_line() -> int:
    lines = Path(taskonomy.__file__).with_name("files.py").read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if "os.replace(" in line)
