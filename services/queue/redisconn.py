"""The one factory of the services' Redis clients (:func:`redis_client`): decoded responses; by
default retried through a Redis restart (the workers), with shorter timeouts and no such retry
where a caller must answer fast (the gateway, ``taskonomy submit``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry


def redis_client(url: str, *, socket_timeout: float | None = 10, connect_timeout: float | None = 5,
                 health_check_interval: float = 5, retry_through_restart: bool = True) -> Any:
    """A decoded-response client of ``url``.

    The defaults are the workers': it retries a connection or timeout error through a Redis restart
    (about 30 s of backoff). With ``retry_through_restart=False`` redis-py's own retry policy applies
    (a caller that reports an unreachable Redis at once). ``None`` timeouts wait forever; a
    ``health_check_interval`` of 0 checks no idle connection.
    """
    options: dict[str, Any] = {"decode_responses": True, "socket_timeout": socket_timeout,
                               "socket_connect_timeout": connect_timeout,
                               "health_check_interval": health_check_interval}
    if retry_through_restart:
        options["retry"] = Retry(ExponentialBackoff(cap=2.0, base=0.1), 25)
        options["retry_on_error"] = [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
    return redis.Redis.from_url(url, **options)


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
