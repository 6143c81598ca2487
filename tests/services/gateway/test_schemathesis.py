"""Property-based API run with schemathesis against the gateway's own OpenAPI document: for every
operation, positive and negative cases (with a valid token) must never produce a 5xx answer.

Real uvicorn server, real Redis, real solver; derandomized so every run sends the same cases.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from tests.services.gateway._fixtures import AUTH, Live

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAX_EXAMPLES = 15


def exercise(operation: Any, mode: GenerationMode, base_url: str) -> tuple[list[int], list[str]]:
    """Send the generated cases of one operation; return the statuses and the 5xx failures."""
    statuses: list[int] = []
    failures: list[str] = []
    strategy = operation.as_strategy(generation_mode=mode, headers=dict(AUTH))

    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, timeout=60)
        statuses.append(response.status_code)
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path} {mode.name}: {response.status_code} "
                            f"{response.text[:300]} (body {str(case.body)[:200]!r})")

    try:
        run()
    except Unsatisfiable:
        # an operation without inputs (e.g. /healthz) has no negative case to generate
        assert mode is GenerationMode.NEGATIVE, operation.label
    return statuses, failures


def test_no_operation_answers_5xx(gw: Live) -> None:
    spec = httpx.get(f"{gw.url}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(spec)
    failures: list[str] = []
    statuses: dict[str, list[int]] = {}
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            got, failed = exercise(operation, mode, gw.url)
            statuses.setdefault(operation.label, []).extend(got)
            failures.extend(failed)
    assert len(statuses) >= 15 and all(statuses.values())  # every operation was exercised
    assert failures == [], "\n".join(failures[:10])
    # requests got past validation too, not only 4xx: the solver, Redis and the broker were reached
    for label in ("POST /v1/taxonomy", "GET /v1/tables/{name}", "POST /v1/experiments", "GET /v1/experiments"):
        assert any(200 <= c < 300 for c in statuses[label]), (label, sorted(set(statuses[label])))
