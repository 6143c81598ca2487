from __future__ import annotations

import pytest

from services.common.state import ExperimentStateStore

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
