"""The Redis client the workers and submitters use: decoded responses, retried through a restart."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry


def redis_client(url: str) -> Any:
    """A decoded-response client that retries through a Redis restart (about 30 s of backoff)."""
    return redis.Redis.from_url(
        url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5, health_check_interval=5,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), 25),
        retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError])


def safe_url(url: str) -> str:
    """``url`` with its password (and a user name's secret part) replaced by ``***``, for logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
