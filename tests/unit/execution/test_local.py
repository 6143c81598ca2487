"""The local executor on a tiny real experiment: resume, incremental tasks, checksums, AHP agreement."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest

from taskonomy.contract import ExperimentSpec, TransferGroupParams, build_graph
from taskonomy.errors import CorruptArtifactError, PreconditionError
from taskonomy.execution import LocalExecutor, run_job
from taskonomy.store import ArtifactStore

pytestmark = pytest.mark.slow

TINY = {
    "tasks": ["normal", "depth_zbuffer", "reshading"],
    "dataset": {"kind": "world", "size": 16, "seed": 3},
    "splits": {"train": 48, "transfer": 16, "test": 16},
    "model": {"width": 8, "rep_channels": 4, "blocks": 1, "transfer_width": 8, "hidden": 16},
    "train": {"epochs": 1, "batch_size": 16},
    "transfer": {"epochs": 1, "batch_size": 16},
}


class Stop(Exception):
    pass


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny networks: one torch thread is as fast and gives the same numbers everywhere."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A store holding a run that was interrupted after 9 jobs and then resumed."""
    root = tmp_path_factory.mktemp("store")
    store = ArtifactStore(root)
    spec = ExperimentSpec.parse(TINY)
    graph = build_graph(spec)
    first: list[str] = []

    def stop_after(job, executed):
        if executed:
            first.append(job.id)
        if len(first) == 9:
            raise Stop

    with pytest.raises(Stop):
        LocalExecutor(store, on_job=stop_after).run(graph)
    second = LocalExecutor(store).run(build_graph(spec))
    return {"root": root, "spec": spec, "first": first, "second": second, "graph": graph}


def test_interrupted_run_resumes_without_redoing_finished_jobs(finished):
    first, second, graph = finished["first"], finished["second"], finished["graph"]
    assert len(first) == 9
    assert set(first) <= set(second.skipped)
    assert not set(first) & set(second.executed)
    assert len(second.executed) + len(first) == len(graph)
    again = LocalExecutor(ArtifactStore(finished["root"])).run(build_graph(finished["spec"]))
    assert again.executed == [] and len(again.skipped) == len(graph)


def test_adding_a_task_runs_exactly_the_new_jobs(finished, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(finished["root"], root)
    old = build_graph(finished["spec"])
    bigger = finished["spec"].with_tasks([*TINY["tasks"], "depth_euclidean"])
    new = build_graph(bigger)
    stats = LocalExecutor(ArtifactStore(root)).run(new)
    expected = set(new.jobs) - set(old.jobs)
    assert set(stats.executed) == expected
    # its net, 2 feature caches, 3 transfers in + own + random, 3 out, self, pixels, render, finalize
    assert len(stats.executed) == 1 + 2 + 5 + 3 + 2 + 1 + 1


def test_stored_losses_reproduce_the_table(finished):
    store = ArtifactStore(finished["root"])
    graph = build_graph(finished["spec"])
    fin = graph.finalize_params()
    from taskonomy.affinity import TransferTable, target_affinity

    table = TransferTable.read(io.StringIO(store.get_bytes(fin.outputs.table).decode()), format="csv")
    for target, key in fin.outputs.losses.items():
        losses = store.get_tensors(key)["losses"]
        meta = store.meta(key)
        res = target_affinity(losses, self_index=meta["self_index"], pixels_index=meta["pixels_index"])
        rows = {(r.kind, r.sources): r for r in table.rows_for(target)}
        assert len(rows) == len(meta["candidates"])
        p = meta["pixels_index"]
        for i, c in enumerate(meta["candidates"]):
            row = rows[(c["kind"], tuple(c["sources"]))]
            assert row.affinity == pytest.approx(float(res.affinity[i]), abs=1e-12)
            # gain is the plain win rate against pixels, image by image
            assert row.gain == pytest.approx(float(np.mean(losses[i] < losses[p])), abs=1e-12)
            # and every candidate's losses are the ones its own job stored
            np.testing.assert_array_equal(store.get_tensors(c["losses"])["x"], losses[i])
        assert sum(r.affinity for r in rows.values()) == pytest.approx(1.0)


def test_a_corrupt_artifact_is_recomputed(finished, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(finished["root"], root)
    store = ArtifactStore(root)
    graph = build_graph(finished["spec"])
    train = next(j for j in graph.order() if j.kind == "train")
    path = root / train.outputs[0]
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert not store.verify(train.outputs[0])
    stats = LocalExecutor(store).run(graph)
    assert stats.executed == [train.id]
    assert store.verify(train.outputs[0])


def test_a_job_without_its_inputs_refuses_to_run(tmp_path):
    graph = build_graph(ExperimentSpec.parse(TINY))
    job = next(j for j in graph.order() if j.kind == "transfer")
    with pytest.raises(PreconditionError, match="missing"):
        run_job(job, ArtifactStore(tmp_path))


def test_higher_order_transfers_are_planned_and_run(finished, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(finished["root"], root)
    spec = ExperimentSpec.parse({**TINY, "tasks": [*TINY["tasks"], "edge_texture"], "max_order": 2, "beam": 2})
    graph = build_graph(spec)
    progress: list[tuple[str, int, int]] = []
    stats = LocalExecutor(ArtifactStore(root), on_progress=lambda s, d, t: progress.append((s, d, t))).run(graph)
    kinds = [graph.jobs[j].kind for j in stats.executed]
    assert kinds.count("plan_higher_order") == 4
    higher = [j for j in graph.jobs.values() if j.stage == "higher_order"]
    assert len(higher) == 4  # the top-2 first-order sources of each target, as one pair
    assert ("higher_order", 4, 4) in progress and progress[-1] == ("finalize", 1, 1)
    store = ArtifactStore(root)
    csv = store.get_bytes(graph.finalize_params().outputs.table).decode()
    assert csv.count(",higher_order,") == 4


@pytest.mark.parametrize("by, groups", [("source", 4), ("target", 3)])  # 3 task encoders + random; 3 targets
def test_grouped_transfer_jobs_give_the_same_table(finished, tmp_path, by, groups):
    """``transfer_jobs: per-source | per-target``: one fused job per group, the per-transfer run's table."""
    from taskonomy.affinity import TransferTable

    store = ArtifactStore(tmp_path / "grouped")
    spec = ExperimentSpec.parse({**TINY, "transfer_jobs": f"per-{by}"})
    graph = build_graph(spec)
    ran: list[str] = []
    LocalExecutor(store, on_job=lambda job, executed: ran.append(job.kind) if executed else None).run(graph)
    assert ran.count("transfer_group") == groups and "transfer" not in ran
    plain = ArtifactStore(finished["root"])
    table, ref = (TransferTable.read(io.StringIO(st.get_bytes(g.results["table"]).decode()), format="csv")
                  for st, g in ((store, graph), (plain, finished["graph"])))
    assert table.targets() == ref.targets()
    for a, b in zip(table.rows, ref.rows, strict=True):
        assert (a.target, a.sources, a.kind) == (b.target, b.sources, b.kind)
        assert a.affinity == pytest.approx(b.affinity, abs=1e-6)
    # every grouped transfer wrote its losses and its weights (the model bank serves them)
    from taskonomy.modelbank import transfer_weights_key

    for job in graph.jobs.values():
        if job.kind == "transfer_group":
            for m in job.typed(TransferGroupParams).members:
                assert store.exists(m.output) and store.exists(transfer_weights_key(m.output))
                assert np.allclose(store.get_tensors(m.output)["x"], plain.get_tensors(m.output)["x"],
                                   rtol=1e-4, atol=1e-5)


def test_two_worker_processes_give_the_same_artifacts_as_one(finished, tmp_path):
    """Network jobs in two spawned one-thread processes: every network, feature and loss array the same
    as in-process (their metadata hold timings, so bytes differ)."""
    spec = finished["spec"]
    store = ArtifactStore(tmp_path / "parallel")
    graph = build_graph(spec)
    starts: list[str] = []
    stats = LocalExecutor(store, workers=2, threads=1, on_job=lambda job, executed: starts.append(job.stage)).run(graph)
    assert stats.workers == 2 and len(stats.executed) == len(graph) and not stats.skipped
    assert starts[0] == "render" and starts[-1] == "finalize"
    serial = ArtifactStore(finished["root"])
    for job in graph.jobs.values():
        for key in job.outputs:
            if key.startswith(("nets/", "features/", "losses/")):
                ours, theirs = store.get_tensors(key), serial.get_tensors(key)
                assert ours.keys() == theirs.keys(), key
                for name in ours:
                    np.testing.assert_array_equal(ours[name], theirs[name], err_msg=f"{key}: {name}")
    # the stage times are elapsed times: never more than the whole run
    assert sum(stats.stage_seconds.values()) <= stats.seconds * 1.01 + 0.5
    assert stats.stage_cpu_seconds["train"] > 0  # the children's CPU time is counted


def test_a_failing_job_in_a_worker_process_fails_the_run(tmp_path):
    """A job's error in a child process is raised by ``run`` as the same exception type."""
    spec = ExperimentSpec.parse(TINY)
    graph = build_graph(spec)
    store = ArtifactStore(tmp_path / "s")
    render = next(j for j in graph.jobs.values() if j.kind == "render")
    LocalExecutor(store).run(_only(graph, {render.id}))
    data_key = next(j for j in graph.jobs.values() if j.kind == "train").inputs[0]
    with open(store._path(data_key), "r+b") as fh:  # flip bytes behind the store's back
        fh.seek(16)
        fh.write(b"garbage!")
    with pytest.raises(CorruptArtifactError, match="sha256 mismatch"):
        LocalExecutor(store, workers=2, threads=1, verify=False).run(graph)


def test_workers_are_checked():
    with pytest.raises(Exception, match="workers must be a positive integer"):
        LocalExecutor(ArtifactStore("/tmp"), workers=0)


def _only(graph, ids):
    from taskonomy.contract import JobGraph

    sub = JobGraph(spec=graph.spec)
    for job_id in ids:
        sub.add(graph.jobs[job_id])
    return sub
