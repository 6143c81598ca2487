from __future__ import annotations

import pytest

from services.queue.state import ExperimentStateStore

pytestmark = pytest.mark.integration


def test_create_is_idempotent_and_progress_counts(redis_url: str) -> None:
    store = ExperimentStateStore.from_url(redis_url)
    rec, created = store.create("abc", {"preset": "quick"})
    assert created and rec.state == "PENDING" and rec.spec == {"preset": "quick"}
    again, created2 = store.create("abc", {"preset": "other"})
    assert not created2 and again.spec == {"preset": "quick"}

    store.add_stage_jobs("abc", "train", 3)
    store.job_done("abc", "train")
    store.job_done("abc", "train", failed=True)
    store.set_state("abc", "RUNNING")
    rec2 = store.get("abc")
    assert rec2 is not None and rec2.state == "RUNNING"
    assert (rec2.stages["train"].total, rec2.stages["train"].done, rec2.stages["train"].failed) == (3, 1, 1)
    assert rec2.to_dict()["stages"]["train"]["ratio"] == pytest.approx(1 / 3, abs=1e-3)

    store.request_cancel("abc")
    assert store.cancel_requested("abc")
    assert store.count_by_state()["RUNNING"] == 1
    assert [r.id for r in store.list()] == ["abc"]
    assert store.get("missing") is None
    with pytest.raises(ValueError, match="state must be one of"):
        store.set_state("abc", "DONE")


def test_events_record_transitions_once_and_count_recoveries(redis_url: str) -> None:
    store = ExperimentStateStore.from_url(redis_url)
    store.create("exp", {"preset": "quick"})
    store.create("exp", {"preset": "quick"})  # a second submission of the same spec: no event
    store.set_state("exp", "RUNNING")
    store.set_state("exp", "RUNNING")  # a redelivered start: no second event
    assert store.get("exp").progress_at is None  # type: ignore[union-attr]
    store.add_stage_jobs("exp", "train", 2)
    store.job_done("exp", "train")
    store.add_event("exp", "job_restored", job="j1", reason="its worker was lost")
    store.add_event("exp", "job_retried", job="j2", error="ConnectionError")
    store.set_state("exp", "FAILED", error="boom")
    events = store.events("exp")
    assert [e["event"] for e in events] == ["submitted", "started", "job_restored", "job_retried", "failed"]
    assert events[2]["job"] == "j1" and events[4]["error"] == "boom"
    assert all(a["at"] <= b["at"] for a, b in zip(events, events[1:], strict=False))
    rec = store.get("exp")
    assert rec is not None and (rec.jobs_restored, rec.jobs_retried) == (1, 1)
    assert rec.progress_at is not None and rec.created_at <= rec.progress_at <= rec.updated_at
    assert rec.to_dict()["jobs_restored"] == 1
    with pytest.raises(ValueError, match="event must be one of"):
        store.add_event("exp", "exploded")


def test_events_are_capped(redis_url: str) -> None:
    from services.queue.state import EVENTS_MAX

    store = ExperimentStateStore.from_url(redis_url)
    store.create("exp", {})
    for i in range(EVENTS_MAX + 5):
        store.add_event("exp", "job_retried", job=f"j{i}")
    events = store.events("exp")
    assert len(events) == EVENTS_MAX and events[-1]["job"] == f"j{EVENTS_MAX + 4}"
    assert store.get("exp").jobs_retried == EVENTS_MAX + 5  # type: ignore[union-attr]
