"""The Redis key schema: one module builds every key, and the strings never change (existing data,
the chart's KEDA triggers and the alerts name them)."""

from __future__ import annotations

import re
from pathlib import Path

from services.queue.redis_keys import DEFAULT_PREFIX, UNACKED, UNACKED_INDEX, KeySchema, queue_lists

ROOT = Path(__file__).resolve().parents[3]


def test_the_keys_are_byte_identical_to_the_ones_in_redis() -> None:
    k = KeySchema()
    assert DEFAULT_PREFIX == "taskonomy" and k.prefix == DEFAULT_PREFIX
    assert k.experiment("e1") == "taskonomy:exp:e1"
    assert k.experiment_events("e1") == "taskonomy:exp:e1:events"
    assert [k.stage_counts("e1", w) for w in ("total", "done", "failed")] == [
        "taskonomy:exp:e1:total", "taskonomy:exp:e1:done", "taskonomy:exp:e1:failed"]
    assert k.experiments() == "taskonomy:exps"
    assert k.current_run("e1") == "taskonomy:exp:e1:run"
    assert k.run_token("e1") == "taskonomy:exp:e1:run_token"
    assert k.run_store("e1") == "taskonomy:exp:e1:store"
    assert k.run("e1", 3) == "taskonomy:run:e1:3"
    assert k.run_part("e1", 3, "deps:j") == "taskonomy:run:e1:3:deps:j"
    assert k.lease("j") == "taskonomy:lease:j"
    assert k.running("train") == "taskonomy:running:train"
    assert k.worker("w@h") == "taskonomy:worker:w@h"
    assert k.workers() == "taskonomy:workers"
    assert k.job_duration("train") == "taskonomy:metrics:job_duration:train"
    assert k.jobs_finished() == "taskonomy:metrics:jobs_finished"
    assert KeySchema("other").lease("j") == "other:lease:j"
    assert queue_lists("train") == ("train", "train\x06\x163", "train\x06\x166", "train\x06\x169")
    assert (UNACKED, UNACKED_INDEX) == ("unacked", "unacked_index")


def test_the_chart_names_the_running_list_the_schema_builds() -> None:
    helpers = (ROOT / "deploy/helm/taskonomy/templates/_helpers.tpl").read_text(encoding="utf-8")
    found = re.search(r'printf "([^"]*)%s" \$q', helpers)
    assert found is not None
    assert found.group(1) + "train" == KeySchema().running("train")


def test_no_other_module_of_the_services_builds_a_key() -> None:
    """Keys are built from the prefix only in services/queue/redis_keys.py."""
    pattern = re.compile(r"""f["'][^"']*\{[^}]*prefix\}:|["']taskonomy:[a-z_]+[:"']""")
    offenders = []
    for path in sorted((ROOT / "services").rglob("*.py")):
        if path.name == "redis_keys.py" or "generated" in path.parts:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []
