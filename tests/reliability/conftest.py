"""Fixtures of the reliability tests: the gateway's (a real solver), and the undisturbed reference
run of the tiny experiment the kill tests disturb."""

from __future__ import annotations

from typing import Any

import pytest

from taskonomy.store import ArtifactStore
from tests.services.gateway._fixtures import solver_address  # noqa: F401
from tests.services.workers._harness import run_like_the_workers, tiny_spec
from tests.services.workers.write_counting import write_counts, write_starts

#: The tiny real experiment the kill tests run (2 tasks, 16 px world, 1 epoch).
RELIABILITY_SPEC: dict[str, Any] = tiny_spec("kill-each-stage")


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, ArtifactStore]:
    """The undisturbed run: the local executor with the workers' settings (graph, store)."""
    from taskonomy.contract import ExperimentSpec

    store = ArtifactStore(tmp_path_factory.mktemp("reference"))
    graph, _ = run_like_the_workers(ExperimentSpec.parse(RELIABILITY_SPEC), store)
    return graph, store


def check_nothing_lost(rec: Any, graph: Any, reference: ArtifactStore, store: ArtifactStore, r: Any) -> None:
    """Same table and taxonomy as the undisturbed run; every artifact once, with a valid checksum."""
    assert rec.result["transfers"] == graph.results["table"]
    assert store.get_bytes(rec.result["transfers"]) == reference.get_bytes(graph.results["table"])
    got, want = store.get_json(rec.result["taxonomy"]), reference.get_json(graph.results["taxonomy"])
    for t in (got, want):
        t.pop("solve_time_s", None)
    assert got == want
    assert {s: p.done for s, p in rec.stages.items()} == {s: n for s, n in graph.stage_counts().items() if n}
    assert all(p.failed == 0 for p in rec.stages.values())
    keys = [k for k in store.list() if not k.startswith("experiments/")]
    assert keys == sorted(k for k in reference.list() if not k.startswith("experiments/"))
    for k in keys:
        assert store.verify(k), k  # checksum
    counts, starts = write_counts(r), write_starts(r)
    # every artifact written, and never twice: a key without a finished write is one whose only write a kill
    # interrupted after its bytes were in place but before they were counted (the re-run job found them)
    assert sorted(starts) == keys and set(counts) <= set(keys), sorted(set(starts) ^ set(keys))
    assert all(v == 1 for v in counts.values()), {k: v for k, v in counts.items() if v != 1}
