"""The workers' extension point (TASKONOMY_JOB_PLUGINS): job kinds and the store class."""

from __future__ import annotations

import sys
import types

import pytest

from services.queue.jobkinds import load_plugins
from services.queue.workerstore import WorkerStore
from taskonomy.errors import InvalidInputError
from tests.services.workers.noop_jobs import NOOP
from tests.services.workers.write_counting import CountingStore


def test_no_plugin_is_the_plain_worker_store() -> None:
    plugins = load_plugins(())
    assert plugins.job_kinds == {} and plugins.store_class is WorkerStore


def test_the_tests_plugins_add_their_job_kind_and_store() -> None:
    plugins = load_plugins(["tests.services.workers.noop_jobs", "tests.services.workers.write_counting"])
    assert set(plugins.job_kinds) == {NOOP} and plugins.store_class is CountingStore


def test_bad_plugins_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = types.ModuleType("bad_store_plugin")
    bad.STORE_CLASS = dict  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bad_store_plugin", bad)
    with pytest.raises(InvalidInputError, match="not a WorkerStore subclass"):
        load_plugins(["bad_store_plugin"])
    with pytest.raises(InvalidInputError, match="two plugins define STORE_CLASS"):
        load_plugins(["tests.services.workers.write_counting", "tests.services.workers.write_counting"])
    with pytest.raises(InvalidInputError, match="defined twice"):
        load_plugins(["tests.services.workers.noop_jobs", "tests.services.workers.noop_jobs"])
    with pytest.raises(InvalidInputError, match="cannot import"):
        load_plugins(["no.such.plugin.module"])
