"""Settings, tokens (environment, secret file, none at all), token-protected reads, log
redaction, and the error paths: solver or Redis away (503), unexpected errors (500 without details)."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from services.gateway.app import create_app
from services.gateway.auth import REDACTED, RedactTokens, token_matches
from services.gateway.server import BackgroundServer, free_port
from services.gateway.settings import load_settings
from taskonomy.errors import InvalidInputError
from tests.services.gateway._fixtures import AUTH, TOKEN, make_settings


@contextmanager
def serving(app: FastAPI) -> Iterator[httpx.Client]:
    """The app on a real uvicorn server on a free port, and a client of it."""
    with BackgroundServer(app) as srv, httpx.Client(base_url=srv.url, timeout=30) as client:
        yield client


SPEC = {"tasks": ["normal", "reshading"], "splits": {"train": 8, "transfer": 4, "test": 4}}


# -- settings --------------------------------------------------------------------------------------
def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "tokens"
    secret.write_text("# rotated 2026-11\nfile-token-abcdefghijkl\n\n")
    monkeypatch.setenv("TASKONOMY_API_TOKENS", f"{TOKEN}, second-token-0123456789")
    monkeypatch.setenv("TASKONOMY_API_TOKENS_FILE", str(secret))
    monkeypatch.setenv("TASKONOMY_READS_REQUIRE_TOKEN", "true")
    monkeypatch.setenv("TASKONOMY_QUEUES", "train,control")
    s = load_settings()
    assert s.tokens() == (TOKEN.encode(), b"second-token-0123456789", b"file-token-abcdefghijkl")
    assert s.reads_require_token and s.queues == ("train", "control")
    assert TOKEN not in repr(s) and TOKEN not in str(s.model_dump())


@pytest.mark.parametrize(("overrides", "message"), [
    ({"api_tokens": "short"}, "at least 16 characters"),
    ({"api_tokens_file": "/nonexistent/tokens"}, "not a readable file"),
    ({"cache_size": -1}, "cache_size"),
    ({"max_body_bytes": 10}, "max_body_bytes"),
])
def test_invalid_settings_fail_at_start(overrides: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as info:
        load_settings(**overrides)
    assert "'short'" not in str(info.value)  # a token's value never appears in a message


def test_token_comparison() -> None:
    tokens = (b"first-token-0123456789", b"second-token-0123456789")
    assert token_matches(b"second-token-0123456789", tokens)
    assert not token_matches(b"second-token-012345678", tokens)
    assert not token_matches(b"", tokens) and not token_matches(b"x", ())


# -- auth over HTTP --------------------------------------------------------------------------------
@pytest.mark.integration
def test_no_configured_token_refuses_every_mutating_call(redis_url: str, solver_address: str, tmp_path: Path) -> None:
    settings = make_settings(redis_url, solver_address, tmp_path, api_tokens="")
    with serving(create_app(settings)) as c:
        submit = c.post("/v1/experiments", json=SPEC, headers=AUTH)
        bare = c.post("/v1/experiments", json=SPEC)
        read = c.get("/v1/experiments")
    assert submit.status_code == 403 and "no API token is configured" in submit.json()["detail"]
    assert bare.status_code == 401
    assert read.status_code == 200


@pytest.mark.integration
def test_reads_can_require_a_token(redis_url: str, solver_address: str, tmp_path: Path) -> None:
    settings = make_settings(redis_url, solver_address, tmp_path, reads_require_token=True)
    with BackgroundServer(create_app(settings)) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
        assert c.get("/v1/experiments").status_code == 401
        assert c.post("/v1/taxonomy", json={"table": "paper-base"}).status_code == 401
        assert c.get("/v1/tasks", headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 403
        assert c.get("/v1/experiments", headers=AUTH).status_code == 200
        # probes and metrics stay open for the kubelet and Prometheus
        assert c.get("/healthz").status_code == 200
        assert c.get("/metrics").status_code == 200


@pytest.mark.integration
def test_token_from_a_mounted_secret_file(redis_url: str, solver_address: str, tmp_path: Path) -> None:
    secret = tmp_path / "api-tokens"
    secret.write_text("file-token-abcdefghijkl\n")
    settings = make_settings(redis_url, solver_address, tmp_path, api_tokens="", api_tokens_file=str(secret))
    with serving(create_app(settings)) as c:
        ok = c.post("/v1/experiments", json=SPEC, headers={"Authorization": "Bearer file-token-abcdefghijkl"})
        secret.write_text("rotated-token-abcdefghijkl\n")  # a rotated secret applies without a restart
        old = c.delete(f"/v1/experiments/{ok.json()['id']}",
                       headers={"Authorization": "Bearer file-token-abcdefghijkl"})
    assert ok.status_code == 202
    assert old.status_code == 403


# -- no token is ever logged -----------------------------------------------------------------------
def test_redaction_filter_scrubs_tokens() -> None:
    filt = RedactTokens([TOKEN.encode()])
    record = logging.LogRecord("services.gateway", logging.INFO, __file__, 1, "got %s and header %s",
                               (TOKEN, "Bearer abc.def"), None)
    assert filt.filter(record)
    assert TOKEN not in record.getMessage() and "abc.def" not in record.getMessage()
    assert record.getMessage().count(REDACTED) == 2


@pytest.mark.integration
def test_no_token_reaches_the_logs(redis_url: str, solver_address: str, tmp_path: Path,
                                   caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(redis_url, solver_address, tmp_path)
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError(f"leaking {TOKEN} in an exception message")

    caplog.set_level(logging.DEBUG)
    with serving(app) as c:
        c.post("/v1/experiments", json=SPEC, headers=AUTH)
        c.post("/v1/experiments", json=SPEC, headers={"Authorization": "Bearer wrong-token-0123456789"})
        resp = c.get("/boom", headers=AUTH)
        logging.getLogger("services.gateway").warning("echo %s", TOKEN)
    assert resp.status_code == 500
    assert resp.json()["detail"] == "internal error; the gateway logged the details"
    assert TOKEN not in resp.text
    text = caplog.text + "".join(r.exc_text or "" for r in caplog.records)
    assert "unexpected error" in text and REDACTED in text
    assert TOKEN not in text and "wrong-token-0123456789" not in text


# -- unavailable dependencies ----------------------------------------------------------------------
@pytest.mark.integration
def test_solver_unreachable_is_503_with_retry_after(redis_url: str, tmp_path: Path) -> None:
    """Only what needs the solver fails: the pod stays ready, submissions and status still work."""
    settings = make_settings(redis_url, f"127.0.0.1:{free_port()}", tmp_path, solver_timeout_s=2.0)
    with serving(create_app(settings)) as c:
        resp = c.post("/v1/taxonomy", json={"table": "paper-16k"})
        ready = c.get("/readyz")
        health = c.get("/v1/health")
        submitted = c.post("/v1/experiments", json=SPEC, headers=AUTH)
        status = c.get(f"/v1/experiments/{submitted.json().get('id')}")
        scraped = c.get("/metrics").text
    assert resp.status_code == 503, resp.text
    assert resp.headers["retry-after"] == str(settings.retry_after_s)
    assert resp.headers["content-type"] == "application/problem+json"
    assert "solver" in resp.json()["detail"]
    assert ready.status_code == 200, ready.text
    deps = health.json()["dependencies"]
    assert health.json()["status"] == "degraded"
    assert deps["solver"]["up"] is False and deps["solver"]["detail"].startswith("unavailable")
    assert deps["redis"]["up"] is True and deps["store"]["up"] is True
    assert submitted.status_code == 202, submitted.text
    assert status.status_code == 200 and status.json()["state"] == "PENDING"
    assert 'taskonomy_dependency_up{dependency="solver"} 0.0' in scraped
    assert 'taskonomy_dependency_up{dependency="redis"} 1.0' in scraped


def test_gateway_never_imports_torch_or_worker_code() -> None:
    code = ("import sys\n"
            "from services.gateway.app import create_app\n"
            "from services.gateway.settings import load_settings\n"
            "from fastapi.testclient import TestClient\n"
            "app = create_app(load_settings(api_tokens='t' * 20))\n"
            "c = TestClient(app)\n"
            "assert c.get('/openapi.json').status_code == 200\n"
            "assert c.get('/v1/tasks').status_code == 200\n"
            "bad = [m for m in ('torch', 'services.queue.tasks', 'services.queue.jobrunner', 'services.trainer', "
            "'services.transfer', 'tests.services.workers.noop_jobs')"
            " if m in sys.modules]\n"
            "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[3])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
