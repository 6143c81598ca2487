"""Every benchmark's ``--smoke`` mode runs and prints its JSON line (so a redesign cannot break one unnoticed).

Each benchmark runs as ``python -m benchmarks.X --smoke`` in a child process from the repository
root, exactly as its docstring says to run it (servers started the way the benchmark starts them:
redis-server, the solver, the gateway, celery workers on free loopback ports). The last line of
its standard output must be a JSON object with the benchmark's main figures. Smoke sizes are tiny:
the figures mean nothing, only that every code path of the full run still works.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"


def run_smoke(name: str, *extra: str, timeout: float = 280.0) -> dict[str, Any]:
    """Run ``benchmarks.<name> --smoke``; the parsed last line of its standard output."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "PYTHONUNBUFFERED": "1"}
    res = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", "--smoke", *extra], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"benchmarks.{name} --smoke exited {res.returncode}:\n{res.stderr[-3000:]}"
    lines = res.stdout.strip().splitlines()
    assert lines, f"benchmarks.{name} --smoke printed nothing:\n{res.stderr[-3000:]}"
    body = json.loads(lines[-1])
    assert isinstance(body, dict)
    return body


def _positive(*values: Any) -> bool:
    return all(isinstance(v, int | float) and v > 0 for v in values)


def check_transfer(r: dict[str, Any]) -> None:
    assert r["benchmark"] == "transfer" and r["smoke"] is True
    assert r["candidates"] == len(r["tasks"]) * (len(r["tasks"]) + 1)  # every source and random, per target
    for variant in ("per_job", "per_job_seed1", "fused", "fused_per_source", "fused_per_target", "halving",
                    "proxies"):
        assert _positive(r["variants"][variant]["seconds"]), variant
    assert "spearman_mean" in r["variants"]["fused"] and "fused_speedup_vs_per_job" in r


def check_train_step(r: dict[str, Any]) -> None:
    assert r["benchmark"] == "train_step" and r["smoke"] is True
    assert set(r["ms"]) >= {"task_dense_32", "task_global_64", "transfer_dense_3src_64"}
    assert _positive(*r["ms"].values()) and "task_dense_64_over_32" in r["ratios"]


def check_gpu_smoke(r: dict[str, Any]) -> None:
    assert r["benchmark"] == "gpu_smoke" and r["status"] == "ok", r
    assert r["cuda"] is (r["machine"]["device"] != "cpu")
    assert len(r["kinds"]) == 15 and all(k["ok"] for k in r["kinds"].values()), r["kinds"]


def check_solver(r: dict[str, Any]) -> None:
    assert r["benchmark"] == "taxonomy_solver" and r["smoke"] is True
    assert r["objectives_agree"] is True and r["paper_example_reproduced"] is True
    assert _positive(r["max_order_5"]["ours_s"], r["max_order_5"]["textbook_scip_s"], r["sweep_max_order_5"]["ours_s"])


def check_pipeline(r: dict[str, Any]) -> None:
    assert r["benchmark"] == "pipeline" and r["preset"] == "smoke"
    assert r["jobs"] > 0 and r["resume_skipped"] == r["jobs"]  # the resumed run recomputes nothing
    assert set(r["stages"]) >= {"render", "train", "features", "transfers", "finalize"} and r["roots"]


def check_validity(r: dict[str, Any]) -> None:
    assert r["benchmark"] == "validity" and r["preset"] == "smoke"
    assert r["summary"]["targets"] == 3 and len(r["targets"]) == 3
    assert _positive(r["seconds_end_to_end"], r["second_seed_seconds"]) and r["roots"]["first"]


def check_world(r: dict[str, Any]) -> None:
    assert r["benchmark"] == "world" and r["smoke"] is True
    assert _positive(r["size32"]["new"]["samples_per_s_1proc"], r["size32"]["new"]["samples_per_s_all_cores"])
    if "old" in r["size32"]:  # the old renderer comes from git history (absent in a shallow clone)
        assert "max_abs_difference" in r["labels_64px"]


def check_gateway(r: dict[str, Any]) -> None:
    assert r["benchmark"] == "gateway_taxonomy_queries" and r["smoke"] is True
    for variant in ("cached", "uncached", "direct_solver"):
        assert r[variant]["queries"] == 8 and _positive(r[variant]["qps"]), variant
    assert r["default_roots"]


def check_queue(r: dict[str, Any]) -> None:
    assert r["benchmark"] == "queue" and r["smoke"] is True
    assert r["fanout_jobs"] == 10 and r["chain_jobs"] == 5
    assert _positive(r["jobs_per_s"], r["chain_ms_per_hop"])


def check_load(r: dict[str, Any]) -> None:
    assert r["benchmark"] == "gateway_load" and r["smoke"] is True
    assert r["requests"] > 0 and r["errors"] == 0 and r["hung_clients"] == 0, r["first_errors"]


def check_solver_service(r: dict[str, Any]) -> None:
    assert r["benchmark"] == "solver_service" and r["smoke"] is True
    for config in ("clients_1", "clients_8", "clients_8_processes_2", "in_process_core"):
        assert r[config]["requests"] > 0 and _positive(r[config]["p50_ms"]), config


def check_source_curve(r: dict[str, Any]) -> None:
    assert r["benchmark"] == "source_curve" and r["preset"] == "smoke"
    assert [p["train_images"] for p in r["points"]] == [32, 48]
    for p in r["points"]:
        assert _positive(p["seconds"], p["train_stage_seconds"]) and p["train_over_transfer_images"] > 1
        assert "share_beats_random" in p


CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "transfer": check_transfer, "train_step": check_train_step, "gpu_smoke": check_gpu_smoke, "solver": check_solver,
    "pipeline": check_pipeline, "validity": check_validity, "world": check_world, "gateway": check_gateway,
    "queue": check_queue, "load": check_load, "solver_service": check_solver_service,
    "source_curve": check_source_curve,
}


def test_every_benchmark_has_a_smoke_check() -> None:
    """A new benchmark gets a smoke check here, or this fails."""
    modules = {p.stem for p in BENCHMARKS.glob("*.py") if not p.stem.startswith("_")}
    assert modules == set(CHECKS)
    for name in modules:
        assert "--smoke" in (BENCHMARKS / f"{name}.py").read_text(), name


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.integration)
                                  if n in ("gateway", "queue", "load", "solver_service") else n for n in CHECKS])
def test_smoke_mode_prints_its_json_line(name: str) -> None:
    CHECKS[name](run_smoke(name))


def test_gpu_smoke_reports_a_skip_without_cuda() -> None:
    """``--require-cuda`` on a machine without CUDA: a JSON line that says skipped, exit 0, nothing run."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the skip is not taken")
    r = run_smoke("gpu_smoke", "--require-cuda")
    assert r["benchmark"] == "gpu_smoke" and r["cuda"] is False
    assert r["status"] == "skipped" and "CUDA is not available" in r["note"] and "kinds" not in r
