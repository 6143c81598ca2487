"""Worker heartbeats (services.queue.heartbeats) on a real redis-server: live workers per queue,
a clean stop, a lost worker (its key expired) and its forgetting."""

from __future__ import annotations

import json
import time

import pytest

from services.queue.heartbeats import LOST_KEEP_SECONDS, beat, census, leave, registry_key, worker_key
from services.queue.redisconn import redis_client

pytestmark = pytest.mark.integration
QUEUES = ("train", "transfer", "control")


def test_live_stopped_and_lost_workers(redis_url: str) -> None:
    r = redis_client(redis_url)
    now = time.time()
    beat(r, "trainer-1@a", ["train", "control"], every=60, started_at=now)
    beat(r, "trainer-2@b", ["train", "control"], every=60, started_at=now)
    beat(r, "transfer-1@a", ["transfer", "control"], every=60, started_at=now)
    assert 0 < r.pttl(worker_key("trainer-1@a")) <= 180_000  # three beats
    seen = census(r, QUEUES)
    assert seen.per_queue == {"train": 2, "transfer": 1, "control": 3} and seen.lost == []

    leave(r, "trainer-2@b")  # a clean stop: gone, not lost
    r.delete(worker_key("transfer-1@a"))  # its key expired: lost
    seen = census(r, QUEUES)
    assert seen.per_queue == {"train": 1, "transfer": 0, "control": 1}
    assert seen.live == ["trainer-1@a"] and seen.lost == ["transfer-1@a"]

    later = now + LOST_KEEP_SECONDS + 1  # a lost worker is forgotten after an hour
    assert census(r, QUEUES, now=later).lost == []
    assert r.hkeys(registry_key()) == ["trainer-1@a"]


def test_a_key_expires_after_three_missed_beats(redis_url: str) -> None:
    r = redis_client(redis_url)
    beat(r, "w@h", ["train"], every=0.1, started_at=time.time())
    assert census(r, QUEUES).per_queue["train"] == 1
    time.sleep(0.4)
    seen = census(r, QUEUES)
    assert seen.per_queue["train"] == 0 and seen.lost == ["w@h"]
    assert json.loads(r.hget(registry_key(), "w@h"))["queues"] == ["train"]
