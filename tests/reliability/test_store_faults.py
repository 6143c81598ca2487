"""A store fault that no retry heals ends the experiment at once, with the reason on it.

The artifact store's directory is made read-only mid-experiment by a real read-only bind mount
(``mount --bind -o ro``: as root, file modes do not stop a write, a read-only mount does, with
EROFS). Retried as a transient error, the experiment used to stay RUNNING without progress
through every retry (84 s with the defaults) before it FAILED; now it FAILS with the next write.
"""

from __future__ import annotations

import errno
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.queue.jobrunner import is_transient, store_fault
from services.queue.redisconn import redis_client
from services.queue.state import ExperimentStateStore
from services.queue.submission import submit
from tests.services.workers._harness import Worker, noop_graph, wait_for, wait_terminal

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class ReadOnlyMount:
    """Makes ``path`` read-only in place (a read-only bind mount of itself) until :meth:`undo`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.mounted = False

    def apply(self) -> None:
        out = subprocess.run(["mount", "--bind", "-o", "ro", str(self.path), str(self.path)], capture_output=True,
                             text=True, check=False)
        if out.returncode:
            pytest.skip(f"no read-only bind mount here: {out.stderr.strip()}")
        self.mounted = True

    def undo(self) -> None:
        if self.mounted:
            subprocess.run(["umount", str(self.path)], check=True)
            self.mounted = False


@pytest.fixture()
def read_only(tmp_path: Path) -> Iterator[ReadOnlyMount]:
    store = tmp_path / "store"
    store.mkdir()
    mount = ReadOnlyMount(store)
    try:
        yield mount
    finally:
        mount.undo()


def test_a_read_only_store_fails_the_experiment_at_once(redis_url: str, tmp_path: Path,
                                                         read_only: ReadOnlyMount) -> None:
    state = ExperimentStateStore(redis_client(redis_url))
    # production retry settings: a transient error would keep the experiment RUNNING for 2+4+8+16+32 s
    env = {"TASKONOMY_MAX_RETRIES": "5", "TASKONOMY_RETRY_BACKOFF": "2"}
    worker = Worker("trainer", broker_url=redis_url, log_path=tmp_path / "trainer.log", env=env)
    try:
        worker.wait_ready()
        submit("ro", noop_graph(4, seconds=1.0, chain=True, queue_cycle=("train",), tag="ro"), broker_url=redis_url,
               store_url=str(read_only.path))
        wait_for(lambda: (r := state.get("ro")) and r.stages.get("noop") and r.stages["noop"].done >= 1,
                 timeout=60, what="the first job")
        read_only.apply()
        t0 = time.monotonic()
        rec = wait_terminal(state, "ro", timeout=60)
        took = time.monotonic() - t0
    finally:
        worker.stop()
    assert rec.state == "FAILED"
    assert "the artifact store cannot be written: read-only file system" in (rec.error or ""), rec.error
    assert "retries" not in (rec.error or "")  # not retried
    assert took < 10, took  # the next job's write (1 s away), not the 62 s of retries
    assert rec.stages["noop"].done < 4


def test_store_faults_no_retry_heals_are_told_apart(tmp_path: Path) -> None:
    assert not is_transient(OSError(errno.EROFS, "Read-only file system", str(tmp_path / "k")))
    assert not is_transient(OSError(errno.EACCES, "Permission denied", str(tmp_path / "k")))
    # a full file system: permanent while it stays full; this one has room, so it may heal
    assert is_transient(OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "k")))
    assert store_fault(OSError(errno.ENOSPC, "No space left on device", str(tmp_path))) is None
    assert not is_transient(FileNotFoundError("The specified bucket does not exist"))
    reason = store_fault(OSError(errno.EROFS, "Read-only file system", "/data/store/x"))
    assert reason is not None and "read-only file system at '/data/store/x'" in reason
    assert store_fault(ConnectionResetError()) is None and is_transient(ConnectionResetError())
