"""The executor's parts one by one, against a real redis-server (no worker processes)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from services.metric_catalog import JOB_DURATION_BUCKETS, METRIC_NAMES
from services.queue.celery_app import celery_config
from services.queue.job_metrics import RedisJobMetricsCollector, record_job
from services.queue.jobrunner import expansion, is_transient
from services.queue.leases import Lease
from services.queue.runbook import RunBook
from services.queue.settings import load_worker_settings
from taskonomy.errors import CorruptArtifactError, InvalidInputError, NotFoundError
from tests.services.workers.write_counting import CountingStore, write_counts, write_starts

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.integration  # a real redis-server (the session's)


# -- settings and Celery configuration -------------------------------------------------------------

def test_settings_validate_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_worker_settings()
    assert s.soft_time_limit < s.time_limit < s.visibility_timeout
    assert s.queues_for("trainer") == ("train", "control") and s.queues_for("transfer") == ("transfer", "control")
    monkeypatch.setenv("TASKONOMY_VISIBILITY_TIMEOUT", "60")
    with pytest.raises(InvalidInputError, match="TASKONOMY_VISIBILITY_TIMEOUT .* must exceed TASKONOMY_TIME_LIMIT"):
        load_worker_settings()
    monkeypatch.setenv("TASKONOMY_ALLOW_SHORT_VISIBILITY", "1")
    assert load_worker_settings().visibility_timeout == 60
    monkeypatch.setenv("TASKONOMY_BROKER_URL", "amqp://x")
    with pytest.raises(InvalidInputError, match="TASKONOMY_BROKER_URL: must be a redis://"):
        load_worker_settings()
    monkeypatch.setenv("TASKONOMY_BROKER_URL", "redis://h:1/0")
    monkeypatch.setenv("TASKONOMY_QUEUES", "train,gpu")
    with pytest.raises(InvalidInputError, match="unknown queue 'gpu'"):
        load_worker_settings()
    monkeypatch.setenv("TASKONOMY_QUEUES", "transfer")
    monkeypatch.setenv("TASKONOMY_GPUS", "0,1")
    s = load_worker_settings()
    assert s.queues_for("trainer") == ("transfer",) and s.gpus == (0, 1)
    with pytest.raises(InvalidInputError, match="unknown worker kind"):
        load_worker_settings(queues=None).queues_for("solver")


def test_celery_config_is_json_only_and_at_least_once() -> None:
    conf = celery_config(load_worker_settings(unacked_restore_interval=1, visibility_timeout=4,
                                              allow_short_visibility=True))
    assert conf["task_serializer"] == conf["result_serializer"] == "json"
    assert conf["accept_content"] == ["json"]
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["broker_transport_options"] == {"visibility_timeout": 4, "unacked_restore_interval": 1,
                                                "unacked_restore_throttle": 1}
    assert conf["task_soft_time_limit"] < conf["task_time_limit"]


def test_the_cli_modules_import_no_queueing_stack() -> None:
    for module in ("services/commands/workers.py", "services/commands/serve.py"):
        text = (ROOT / module).read_text()
        assert not re.search(r"^\s*(import|from)\s+(celery|redis|kombu|grpc|fastapi|uvicorn)\b", text, re.M), module


# -- job metrics through Redis ---------------------------------------------------------------------

def test_job_metrics_round_trip(redis_url: str) -> None:
    import redis

    r = redis.Redis.from_url(redis_url, decode_responses=True)
    for seconds in (0.01, 0.3, 0.3, 7.0, 99999.0):
        record_job(r, kind="train", outcome="executed", seconds=seconds)
    record_job(r, kind="train", outcome="failed", seconds=1.0)
    record_job(r, kind="mystery", outcome="skipped", seconds=0.0)
    with pytest.raises(ValueError, match="outcome must be one of"):
        record_job(r, kind="train", outcome="exploded", seconds=1.0)
    families = {f.name: f for f in RedisJobMetricsCollector(redis_url).collect()}
    hist = {(s.name, s.labels.get("le")): s.value for s in families["taskonomy_job_duration_seconds"].samples
            if s.labels["kind"] == "train"}
    assert hist[("taskonomy_job_duration_seconds_bucket", "0.05")] == 1
    assert hist[("taskonomy_job_duration_seconds_bucket", "0.5")] == 3
    assert hist[("taskonomy_job_duration_seconds_bucket", "1.0")] == 4  # le is inclusive
    assert hist[("taskonomy_job_duration_seconds_bucket", "10.0")] == 5
    assert hist[("taskonomy_job_duration_seconds_bucket", str(float(JOB_DURATION_BUCKETS[-1])))] == 5
    assert hist[("taskonomy_job_duration_seconds_bucket", "+Inf")] == 6
    assert hist[("taskonomy_job_duration_seconds_count", None)] == 6
    assert hist[("taskonomy_job_duration_seconds_sum", None)] == pytest.approx(0.01 + 0.6 + 7 + 99999 + 1)
    finished = {(s.labels["kind"], s.labels["outcome"]): s.value for s in families["taskonomy_jobs_finished"].samples
                if s.name.endswith("_total")}
    assert finished == {("train", "executed"): 5, ("train", "failed"): 1, ("other", "skipped"): 1}
    names = {s.name for f in families.values() for s in f.samples}
    assert names <= METRIC_NAMES


def test_collector_survives_a_missing_redis() -> None:
    families = list(RedisJobMetricsCollector("redis://127.0.0.1:1/0").collect())
    assert [f.name for f in families] == ["taskonomy_job_duration_seconds", "taskonomy_jobs_finished"]
    assert all(not f.samples for f in families)


# -- run bookkeeping, leases, the write-once store -------------------------------------------------

def _job(jid: str, queue: str = "train") -> dict:
    return {"id": jid, "kind": "noop", "stage": "noop", "queue": queue, "params": {}, "inputs": [],
            "outputs": [f"noop/{jid}"]}


def test_runbook_dispatches_a_diamond_in_order(redis_url: str) -> None:
    import redis

    r = redis.Redis.from_url(redis_url, decode_responses=True)
    book = RunBook(r, "e", 1)
    deps = {"b": ["a"], "c": ["a"], "d": ["b", "c"]}
    assert book.register([_job(j) for j in "abcd"], deps) == {"noop": 4}
    assert book.register([_job(j) for j in "abcd"], deps) == {}  # idempotent
    assert book.roots() == ["a"] and book.ready("abcd") == ["a"]
    assert book.claim("a", "t1") and book.claim("a", "t1") and not book.claim("a", "t2")
    assert book.mark_done("a") and not book.mark_done("a")  # a redelivered completion counts once
    assert book.ready(book.children("a")) == ["b", "c"]
    book.mark_done("b")
    assert book.ready(book.children("b")) == []  # d still waits for c
    book.mark_done("c")
    assert book.ready(book.children("c")) == ["d"]
    assert book.producer("noop/d") == "d"
    book.mark_done("d")
    assert book.n_done() == book.n_jobs() == 4
    book.reopen("b")  # b's output was corrupt: runnable again, and sendable again by anyone
    assert book.ready(["b"]) == ["b"] and book.claim("b", "t9")
    assert book.claim_finish() and not book.claim_finish()


def test_lease_is_exclusive_and_expires(redis_url: str) -> None:
    import redis

    r = redis.Redis.from_url(redis_url, decode_responses=True)
    first = Lease(r, "taskonomy:lease:x", seconds=0.3)
    assert first.acquire()
    time.sleep(0.5)  # the heartbeat keeps it alive past its ttl
    assert not Lease(r, "taskonomy:lease:x", seconds=0.3).acquire()
    first._stop.set()  # a killed holder stops renewing...
    time.sleep(0.5)
    second = Lease(r, "taskonomy:lease:x", seconds=0.3)
    assert second.acquire()  # ...and its lease lapses
    first.release()  # releasing someone else's lease does nothing
    assert r.get("taskonomy:lease:x") == second.token
    second.release()
    assert r.get("taskonomy:lease:x") is None


def test_worker_store_writes_once_and_drops_corrupt_artifacts(redis_url: str, tmp_path: Path) -> None:
    import redis

    r = redis.Redis.from_url(redis_url, decode_responses=True)
    store = CountingStore(str(tmp_path), r=r)
    store.put_json("a/x", {"v": 1})
    store.put_json("a/x", {"v": 1})  # same content under the same key: no second write
    assert write_counts(r) == write_starts(r) == {"a/x": 1}
    store.put_json("a/x", {"v": 2})  # different bytes (a non-deterministic job) are written
    assert write_counts(r) == write_starts(r) == {"a/x": 2}
    assert not store.drop_if_corrupt("a/x") and not store.drop_if_corrupt("a/missing")
    (tmp_path / "a" / "x").write_bytes(b"rubbish")
    with pytest.raises(CorruptArtifactError):
        store.get_json("a/x")
    assert store.drop_if_corrupt("a/x") and not store.exists("a/x")


def test_transient_errors_are_told_apart() -> None:
    import redis

    assert is_transient(redis.exceptions.ConnectionError("reset"))
    assert is_transient(ConnectionResetError())
    assert is_transient(TimeoutError())
    assert not is_transient(FileNotFoundError("x"))
    assert not is_transient(InvalidInputError("bad"))
    assert not is_transient(NotFoundError("nope"))
    assert not is_transient(ValueError("bug"))
    from botocore.exceptions import ClientError, EndpointConnectionError

    assert is_transient(EndpointConnectionError(endpoint_url="http://s3"))
    assert is_transient(ClientError({"Error": {"Code": "SlowDown"}}, "PutObject"))
    assert not is_transient(ClientError({"Error": {"Code": "AccessDenied"}}, "PutObject"))


def test_a_plan_job_extends_the_graph_before_finalize() -> None:
    from taskonomy.contract import ExperimentSpec, PlanParams, build_graph

    spec = ExperimentSpec.parse({"tasks": ["autoencoding", "depth_zbuffer", "normal", "reshading"],
                                 "splits": {"train": 4, "transfer": 4, "test": 2}, "max_order": 2, "beam": 3})
    graph = build_graph(spec)
    plan = next(j for j in graph.order() if j.kind == "plan_higher_order")
    sources = [c.sources[0] for c in plan.typed(PlanParams).first_order][:2]
    jobs, deps, finals = expansion(spec.model_dump(mode="json"), plan.to_dict(), {"candidates": [sources]})
    assert len(jobs) == 1 and jobs[0]["stage"] == "higher_order" and jobs[0]["params"]["sources"] == sources
    assert plan.id in deps[jobs[0]["id"]]
    assert finals == [j.id for j in graph.jobs.values() if j.kind == "finalize"]
    assert expansion(spec.model_dump(mode="json"), plan.to_dict(), {"candidates": []})[0] == []


def test_worker_command_refuses_bad_settings_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from taskonomy.cli import build_app

    monkeypatch.setenv("TASKONOMY_VISIBILITY_TIMEOUT", "5")
    result = CliRunner().invoke(build_app(), ["worker", "trainer"])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "TASKONOMY_VISIBILITY_TIMEOUT" in result.stderr
    result = CliRunner().invoke(build_app(), ["worker", "solver"])
    assert result.exit_code == 2 and "unknown worker kind 'solver'; known: trainer, transfer" in result.stderr
    result = CliRunner().invoke(build_app(), ["worker", "trainer", "--broker", "http://h:1/0"])
    assert result.exit_code == 2 and result.stderr.strip().splitlines() == [
        "error: --broker must be a redis://, rediss:// or unix:// URL, got 'http://h:1/0'"]
    assert "REMAP_SIGTERM" not in os.environ  # nothing changed in this process before the settings were valid
    result = CliRunner().invoke(build_app(), ["submit", "x.yaml", "--broker", "redis://h:1/0"])
    assert result.exit_code == 2 and "--store is required" in result.stderr


def test_safe_url_hides_passwords() -> None:
    from services.queue.redisconn import safe_url

    assert safe_url("redis://:s3cret@redis:6379/0") == "redis://:***@redis:6379/0"
    assert safe_url("rediss://user:s3cret@[::1]:6380/2") == "rediss://user:***@[::1]:6380/2"
    assert safe_url("redis://redis:6379/0") == "redis://redis:6379/0"
    assert safe_url("s3://bucket/prefix") == "s3://bucket/prefix"


def _deliver(r, raw: str, queue: str, tag: str, at: float) -> None:
    """What kombu's Redis transport does when it hands a message to a worker (acks_late): the
    message goes to the 'unacked' hash ([message, exchange, routing key]) and its delivery time to
    the 'unacked_index' sorted set."""
    r.hset("unacked", tag, f'[{raw}, "{queue}", "{queue}"]')
    r.zadd("unacked_index", {tag: at})


def test_the_sweep_restores_lost_and_stranded_messages(redis_url: str) -> None:
    """Jobs sent long ago that are not done, not leased and have no message in the broker are sent
    again; a message delivered long ago that nothing runs (its worker died with it) is restored to
    its queue (kombu's own restore); one delivered just now, or whose job runs, is left alone. A
    PENDING experiment whose start message is nowhere is started again; a CANCELLING one none of
    whose jobs runs becomes CANCELLED."""
    from services.queue.leases import lease_key
    from services.queue.lostjobs import broker_messages, queued_job_ids, restore_message, sweep
    from services.queue.redisconn import redis_client
    from services.queue.state import ExperimentStateStore
    from services.queue.submission import client_app
    from services.queue.tasknames import RUN_EXPERIMENT, RUN_JOB
    from services.queue.workercontext import WorkerContext

    r = redis_client(redis_url)
    state = ExperimentStateStore(r)
    ctx = WorkerContext(settings=load_worker_settings(), r=r, state=state)
    state.create("exp", {"kind": "noop"})
    state.set_state("exp", "RUNNING")
    r.set("taskonomy:exp:exp:run", 1)
    r.set("taskonomy:exp:exp:store", "/tmp/store")
    book = RunBook(r, "exp", 1)
    names = ("lost", "queued", "leased", "done", "fresh", "acked", "stranded", "stranded-leased")
    jobs = {j: {"id": j, "kind": "noop", "stage": "train", "queue": "train", "params": {}, "inputs": [],
                "outputs": [f"out/{j}"]} for j in names}
    book.register(list(jobs.values()), {})
    for j in jobs:
        assert book.claim(j, "sender-token")
    now = time.time()
    for j in jobs:  # the sweep below looks at now + 31 s: "fresh" was sent 1 s before, the others 91 s before
        r.hset(book._k("sent_at"), j, repr(now + 30 if j == "fresh" else now - 60))
    book.mark_done("done")
    for j in ("leased", "stranded-leased"):
        r.set(lease_key(j), "x")
    app = client_app(redis_url)
    app.send_task(RUN_JOB, args=["exp", 1, jobs["queued"], "/tmp/store"], queue="train")  # waiting in its queue
    for tag, (j, at) in {"t-acked": ("acked", now + 30), "t-stranded": ("stranded", now - 60),
                         "t-stranded-leased": ("stranded-leased", now - 60)}.items():
        app.send_task(RUN_JOB, args=["exp", 1, jobs[j], "/tmp/store"], queue="transfer")
        _deliver(r, r.rpop("transfer"), "transfer", tag, at)
    assert queued_job_ids(r) == {"queued", "acked", "stranded", "stranded-leased"}
    # a start whose worker died while it ran, and a PENDING experiment whose start message is gone
    state.create("stuck-start", {"kind": "noop"})
    app.send_task(RUN_EXPERIMENT, args=["stuck-start"], kwargs={"store_url": "/tmp/s"}, queue="control")
    _deliver(r, r.rpop("control"), "control", "t-start", now - 60)
    state.create("lost-start", {"kind": "noop"})
    r.set("taskonomy:exp:lost-start:store", "/tmp/lost")
    # cancels: one whose job died (its lease lapsed), one whose job still runs
    for exp_id, job_id in (("cancel-dead", "cd"), ("cancel-busy", "cb")):
        state.create(exp_id, {"kind": "noop"})
        state.request_cancel(exp_id)
        state.set_state(exp_id, "CANCELLING")
        r.set(f"taskonomy:exp:{exp_id}:run", 1)
        RunBook(r, exp_id, 1).register([{**jobs["lost"], "id": job_id}], {})
    r.set(lease_key("cb"), "x")

    sent: list[tuple[str, int, str, str, str]] = []
    started: list[tuple[str, str | None]] = []

    def send(exp_id: str, run: int, job: dict, store_url: str, token: str) -> None:
        sent.append((exp_id, run, job["id"], store_url, token))

    def restore(tag: str) -> None:
        assert restore_message(r, tag)
        assert not restore_message(r, tag)  # restored once only

    report = sweep(ctx, send=send, start=lambda e, u: started.append((e, u)), restore=restore, older_than=30,
                   now=now + 31)  # the PENDING records were created 31 s before this sweep
    assert sorted((m.task, m.exp_id, m.job_id) for m in report.restored) == sorted([
        (RUN_JOB, "exp", "stranded"), (RUN_EXPERIMENT, "stuck-start", None)])
    assert sorted(r.hkeys("unacked")) == ["t-acked", "t-stranded-leased"]
    waiting = {(m.task, m.exp_id, m.job_id) for m in broker_messages(r) if not m.unacked}
    assert waiting == {(RUN_JOB, "exp", "queued"), (RUN_JOB, "exp", "stranded"), (RUN_EXPERIMENT, "stuck-start", None)}
    assert report.resent == ["lost"] and sent == [("exp", 1, "lost", "/tmp/store", "sender-token")]
    assert report.restarted == ["lost-start"] and started == [("lost-start", "/tmp/lost")]
    assert report.cancelled == ["cancel-dead"]
    assert state.get("cancel-dead").state == "CANCELLED" and state.get("cancel-busy").state == "CANCELLING"

    again = sweep(ctx, send=send, start=lambda e, u: started.append((e, u)), restore=restore, older_than=30)
    assert again.resent == [] and again.restored == []  # sent again just now: not again before 30 s
    state.set_state("exp", "FAILED")
    r.hset(book._k("sent_at"), "lost", repr(now - 60))
    assert sweep(ctx, send=send, start=lambda e, u: None, restore=restore, older_than=30).resent == []  # only running


def test_metric_job_kinds_cover_every_kind_the_pipeline_makes() -> None:
    from services.metric_catalog import JOB_KINDS
    from taskonomy.contract import ExperimentSpec, build_graph

    kinds: set[str] = set()
    for jobs in ("per-transfer", "per-source"):
        spec = ExperimentSpec.parse({"tasks": ["autoencoding", "depth_zbuffer", "normal"], "max_order": 2, "beam": 2,
                                     "splits": {"train": 4, "transfer": 4, "test": 2}, "transfer_jobs": jobs})
        kinds |= {j.kind for j in build_graph(spec).jobs.values()}
    assert kinds <= set(JOB_KINDS), sorted(kinds - set(JOB_KINDS))
