"""The gateway under concurrent taxonomy queries, submissions and status reads for a bounded time,
on loopback against real processes (redis-server, solver, gateway): no error, no hung client, and
every submission recorded. Latency percentiles are printed (benchmarks/load.py runs it longer)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def _load_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("taskonomy_benchmark_load", ROOT / "benchmarks" / "load.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gateway_under_load_answers_everything(redis_url: str, tmp_path: Path) -> None:
    import redis

    load = _load_module()
    with load.services(redis_url=redis_url, workdir=str(tmp_path)) as url:
        figures = load.run_load(url, clients=6, seconds=5.0, run_id="ci")
    print(json.dumps(figures))
    assert figures["errors"] == 0, figures["first_errors"]
    assert figures["hung_clients"] == 0
    ops = figures["ops"]
    assert all(ops[op]["count"] > 0 for op in ("query", "submit", "status")), ops
    # every accepted submission is an experiment record, and one control message, exactly once
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    experiments = [k for k in map(str, r.keys("taskonomy:exp:*")) if k.count(":") == 2]
    assert len(experiments) == ops["submit"]["count"]
    assert r.llen("control") == ops["submit"]["count"]
