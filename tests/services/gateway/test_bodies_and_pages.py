"""Smaller faults of issue 17 (item 9) on the gateway: a JSON route refuses a body of another
Content-Type (415), every body that is not JSON gets the same problem (400 malformed-body), a 413
is formatted like every other problem, an unknown experiment's page is a 404, and the API docs
load their assets from the gateway itself (no CDN)."""

from __future__ import annotations

import json

import pytest

from tests.services.gateway._fixtures import Live

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
JSON_ROUTES = ["/v1/experiments", "/v1/taxonomy"]
NOT_JSON = {"malformed": b"{nope", "deeply nested": b"[" * 100_000 + b"]" * 100_000, "not UTF-8": b'{"a": "\xff\xfe"}'}


@pytest.mark.parametrize("path", JSON_ROUTES)
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_json_route_refuses_another_content_type(gw: Live, path: str, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    with gw.client(auth=True) as c:
        resp = c.post(path, content=json.dumps({"table": "paper-16k"}).encode(), headers=headers)
    assert resp.status_code == 415, resp.text
    assert resp.headers["content-type"] == PROBLEM
    assert resp.json()["type"].endswith(":unsupported-media-type") and "application/json" in resp.json()["detail"]


@pytest.mark.parametrize("path", JSON_ROUTES)
def test_every_body_that_is_not_json_gets_the_same_problem(gw: Live, path: str) -> None:
    with gw.client(auth=True) as c:
        answers = {name: c.post(path, content=body, headers={"content-type": "application/json"})
                   for name, body in NOT_JSON.items()}
    for name, resp in answers.items():
        assert resp.status_code == 400, (name, resp.text)
        assert resp.headers["content-type"] == PROBLEM
        body = resp.json()
        assert body == {"type": "urn:taskonomy:problem:malformed-body", "title": "Bad Request", "status": 400,
                        "detail": "the request body is not valid JSON", "instance": path}, name


def test_a_413_is_rendered_like_every_other_problem(gw: Live) -> None:
    with gw.client(auth=True) as c:
        big = c.post("/v1/experiments", content=b"x" * (gw.settings.max_body_bytes + 1),
                     headers={"content-type": "application/json"})
        small = c.post("/v1/experiments", content=b"{nope", headers={"content-type": "application/json"})
    assert big.status_code == 413 and big.headers["content-type"] == PROBLEM
    assert list(big.json()) == list(small.json())  # the same members, in the same order
    assert big.text == json.dumps(big.json(), separators=(",", ":"))  # the same rendering (compact)
    assert small.text == json.dumps(small.json(), separators=(",", ":"))


def test_the_page_of_an_unknown_experiment_is_a_404(gw: Live) -> None:
    with gw.client() as c:
        unknown = c.get("/ui/experiments/nosuch")
        published = c.get("/ui/experiments/paper-16k")
    assert unknown.status_code == 404 and unknown.headers["content-type"] == PROBLEM
    assert "nosuch" in unknown.json()["detail"]
    assert published.status_code == 200 and published.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_docs_need_no_cdn(gw: Live, page: str) -> None:
    import re

    with gw.client() as c:
        html = c.get(page)
        assert html.status_code == 200
        assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', html.text)
        fetched = {a: c.get(a) for a in assets}
    assert assets and all(a.startswith("/") for a in assets), assets  # served by the gateway, no external host
    assert all(r.status_code == 200 and len(r.content) > 1000 for r in fetched.values()), {
        a: r.status_code for a, r in fetched.items()}
