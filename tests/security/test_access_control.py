"""Access control over every route of the gateway, found by walking the app (a route added later
is covered without editing this test), and no token in any log line of a served gateway.

- every POST/PUT/PATCH/DELETE route except the documented read-only queries requires the token
  guard; over HTTP it answers 401 (no or malformed header) or 403 (wrong token), before looking at
  the body, and nothing in Redis changes and nothing is enqueued;
- ``taskonomy serve gateway --log-level debug`` (uvicorn's access log included) never writes a
  token, whether sent as a header, in a query string, in a rejected body, or in an error.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from services.gateway.app import create_app
from services.gateway.deps import require_token
from services.gateway.server import BackgroundServer, free_port
from tests.services.gateway._fixtures import AUTH, TOKEN, make_settings

ROOT = Path(__file__).resolve().parents[2]
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
#: POST routes that change nothing (documented as reads): a taxonomy query.
READ_ONLY_POSTS = {"/v1/taxonomy"}
SPEC = {"tasks": ["normal", "reshading"], "splits": {"train": 8, "transfer": 4, "test": 4}}
BAD_HEADERS: list[tuple[dict[str, str], int]] = [
    ({}, 401),
    ({"Authorization": ""}, 401),
    ({"Authorization": "Bearer"}, 401),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, 401),
    ({"Authorization": f"Token {TOKEN}"}, 401),
    ({"Authorization": "Bearer wrong-token-0123456789abcdef"}, 403),
    ({"Authorization": f"Bearer {TOKEN[:-1]}"}, 403),  # a prefix of the token
    ({"Authorization": f"Bearer {TOKEN}x"}, 403),  # the token and more
    ({"Authorization": f"Bearer {TOKEN.upper()}"}, 403),
]


def _routes(app: Any) -> list[Any]:
    """Every endpoint route of ``app`` (``APIRoute``, or the effective routes of included routers)."""
    out: list[Any] = []
    stack = list(app.routes)
    while stack:
        route = stack.pop(0)
        if isinstance(route, APIRoute):
            out.append(route)
        elif hasattr(route, "effective_route_contexts"):  # FastAPI's lazily included routers
            out.extend(route.effective_route_contexts())
        elif hasattr(route, "dependant") and hasattr(route, "methods"):
            out.append(route)
    return out


def _dependencies(route: Any) -> set[Any]:
    calls, stack = set(), [route.dependant]
    while stack:
        dep = stack.pop()
        calls.add(dep.call)
        stack.extend(dep.dependencies)
    return calls


def _mutating_routes() -> list[tuple[str, str]]:
    app = create_app(make_settings("redis://127.0.0.1:1/0", "127.0.0.1:1", Path("/nonexistent")))
    return [(method, route.path) for route in _routes(app) for method in sorted(route.methods & MUTATING)]


def test_every_mutating_route_has_the_token_guard() -> None:
    app = create_app(make_settings("redis://127.0.0.1:1/0", "127.0.0.1:1", Path("/nonexistent")))
    routes = [r for r in _routes(app) if r.methods & MUTATING]
    assert {"/v1/experiments", "/v1/experiments/{id}", "/v1/experiments/{id}/tasks"} <= {r.path for r in routes}
    unguarded = [f"{sorted(r.methods)} {r.path}" for r in routes
                 if r.path not in READ_ONLY_POSTS and require_token not in _dependencies(r)]
    assert unguarded == []


def _fill(path: str, exp_id: str) -> str:
    return re.sub(r"\{[^}]+\}", exp_id, path)


@pytest.mark.integration
def test_mutating_calls_without_a_valid_token_change_nothing(redis_url: str, solver_address: str,
                                                             tmp_path: Path) -> None:
    import redis

    settings = make_settings(redis_url, solver_address, tmp_path)
    r = redis.Redis.from_url(redis_url)
    with BackgroundServer(create_app(settings)) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
        created = c.post("/v1/experiments", json=SPEC, headers=AUTH)
        assert created.status_code == 202, created.text
        exp_id = created.json()["id"]
        before = {k: r.dump(k) for k in r.keys("*")}
        refused = 0
        for method, path in _mutating_routes():
            if path in READ_ONLY_POSTS:
                continue
            url = _fill(path, exp_id)
            for headers, status in BAD_HEADERS:
                for body in ({"json": SPEC}, {"json": {"not": "valid"}}, {"content": b"\x00garbage"}):
                    resp = c.request(method, url, headers=headers, **body)
                    assert resp.status_code == status, (method, url, headers, resp.status_code, resp.text)
                    assert resp.headers["content-type"] == "application/problem+json"
                    if status == 401:
                        assert resp.headers["www-authenticate"].startswith("Bearer")
                    assert TOKEN not in resp.text
                    refused += 1
        after = {k: r.dump(k) for k in r.keys("*")}
        state = c.get(f"/v1/experiments/{exp_id}").json()["state"]
    assert refused >= 3 * len(BAD_HEADERS) * 3
    assert after == before  # no record, queue or counter changed
    assert state != "CANCELLING"


@pytest.mark.integration
def test_served_gateway_never_logs_a_token(redis_url: str, tmp_path: Path) -> None:
    second = "second-secret-token-fedcba9876543210"
    port = free_port()
    # the solver address points at nothing: queries log a warning (503) too
    env = {**os.environ, "TASKONOMY_API_TOKENS": f"{TOKEN},{second}"}
    log_path = tmp_path / "gateway.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "taskonomy", "serve", "gateway", "--port", str(port), "--host", "127.0.0.1",
             "--solver", f"127.0.0.1:{free_port()}", "--broker", redis_url, "--store", str(tmp_path / "store"),
             "--log-level", "debug"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=30) as c:
            statuses = [
                c.post("/v1/experiments", json=SPEC, headers=AUTH).status_code,
                c.post("/v1/experiments", json=SPEC, headers={"Authorization": f"Bearer {second}"}).status_code,
                c.post(f"/v1/experiments?token={TOKEN}&key={second}", json=SPEC, headers=AUTH).status_code,
                c.post("/v1/experiments", json={**SPEC, "name": TOKEN, "tasks": [second]}, headers=AUTH).status_code,
                c.delete(f"/v1/experiments/{TOKEN}", headers=AUTH).status_code,
                c.get(f"/v1/tables/{second}", headers=AUTH).status_code,
                c.post("/v1/taxonomy", json={"table": "paper-base"}, headers=AUTH).status_code,
                c.get("/v1/experiments", headers={"Authorization": f"Bearer {TOKEN}", "X-Api-Key": TOKEN}).status_code,
            ]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    text = log_path.read_text()
    assert statuses[0] in (200, 202) and 503 in statuses and 422 in statuses, statuses
    assert "Logging error" not in text  # every record was formatted (a failing one dumps a traceback)
    assert '"POST /v1/experiments' in text and "[REDACTED]" in text  # uvicorn's access log was on
    assert "solver" in text  # and the 503's warning was logged
    assert TOKEN not in text and second not in text, [ln for ln in text.splitlines() if TOKEN in ln or second in ln]


def test_redaction_keeps_uvicorn_access_records_formattable() -> None:
    """The filter redacts a token in an access record's path and leaves its arguments a tuple, which
    uvicorn's access formatter unpacks (it raised on ``args = None``, and logging then printed the
    whole traceback, tokens included, to stderr)."""
    import logging

    from uvicorn.logging import AccessFormatter

    from services.gateway.auth import REDACTED, RedactTokens

    filt = RedactTokens([TOKEN.encode()])
    fmt = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False)
    for path, expect in ((f"/v1/experiments/{TOKEN}", f"/v1/experiments/{REDACTED}"), ("/healthz", "/healthz")):
        record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                                   ("127.0.0.1:5000", "GET", path, "1.1", 200), None)
        assert filt.filter(record)
        line = fmt.format(record)
        assert line == f'127.0.0.1:5000 - "GET {expect} HTTP/1.1" 200 OK'
    # a secret spread over arguments is still caught, as plain text
    record = logging.LogRecord("services.gateway", logging.INFO, __file__, 1, "%s%s", (TOKEN[:8], TOKEN[8:]), None)
    assert filt.filter(record) and record.getMessage() == REDACTED
