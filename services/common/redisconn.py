"""The Redis client the workers and submitters use: decoded responses, retried through a restart."""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry


def redis_client(url: str) -> Any:
    """A decoded-response client that retries through a Redis restart (about 30 s of backoff)."""
    return redis.Redis.from_url(
        url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5, health_check_interval=5,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), 25),
        retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError])
