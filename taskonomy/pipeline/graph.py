"""The job graph of an experiment: pure data, no torch, shared by the local and Celery executors.

:func:`build_graph` turns an :class:`~taskonomy.pipeline.spec.ExperimentSpec` into jobs whose
inputs and outputs are content-addressed artifact keys (:mod:`taskonomy.pipeline.keys`):

=================  =========  ==========  ========================================================
kind               queue      stage       what it produces
=================  =========  ==========  ========================================================
render             train      render      every sample key a task needs, per split (world/folder)
train              train      train       a task-specific network trained on the train split
random_encoder     train      train       the frozen randomly initialised encoder (``random``)
features           transfer   features    one source encoder's representation of a split's images
transfer           transfer   transfers   per-test-image losses of a transfer (first order, own,
                                          random; higher order after planning)
transfer_group     transfer   transfers   the outputs of the first-order ``transfer`` jobs of one
                                          source or one target, trained together
                                          (``transfer_jobs: per-source | per-target``)
baseline           transfer   baselines   per-test-image losses of ``pixels`` (from the image alone)
evaluate           transfer   baselines   per-test-image losses of ``self`` + sample predictions
plan_higher_order  control    plan        the higher-order source sets of one target (beam over
                                          the first-order ranking); extends the graph when run
finalize           control    finalize    AHP per target, the transfer table, the taxonomy
=================  =========  ==========  ========================================================

Every job carries in ``params`` all it needs to run on its own (JSON only), so a worker needs
nothing but the job and the artifact store. Job ids are derived from the outputs, so the same
work asked for by two experiments is the same job.
"""

from __future__ import annotations

import graphlib
import heapq
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from taskonomy.errors import InvalidInputError, PreconditionError
from taskonomy.pipeline import keys as K
from taskonomy.pipeline.spec import ExperimentSpec
from taskonomy.tasks import RANDOM, candidate_kind, get_task

Queue = Literal["train", "transfer", "control"]
#: Stages in execution order (progress bars are shown per stage).
STAGES: tuple[str, ...] = ("render", "train", "features", "transfers", "baselines", "plan", "higher_order",
                           "finalize")
#: Splits on which transfers train and are evaluated.
TRANSFER_SPLITS: tuple[str, ...] = ("transfer", "test")
#: Number of test images whose predictions are stored for the report.
N_PREVIEW = 4


@dataclass(frozen=True)
class Job:
    """One unit of work: reads ``inputs``, writes ``outputs`` (artifact keys), nothing else."""

    id: str
    kind: str
    stage: str
    queue: Queue
    params: Mapping[str, Any]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "stage": self.stage, "queue": self.queue,
                "params": dict(self.params), "inputs": list(self.inputs), "outputs": list(self.outputs)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        try:
            return cls(id=str(data["id"]), kind=str(data["kind"]), stage=str(data["stage"]),
                       queue=data["queue"], params=dict(data["params"]), inputs=tuple(data["inputs"]),
                       outputs=tuple(data["outputs"]))
        except (KeyError, TypeError) as exc:
            raise InvalidInputError(f"malformed job description: {exc}") from None


def make_job(kind: str, stage: str, queue: Queue, params: Mapping[str, Any], inputs: Iterable[str],
             outputs: Iterable[str]) -> Job:
    outs = tuple(outputs)
    assert outs, "a job must produce something"
    job_id = f"{kind}-{K.digest({'kind': kind, 'outputs': sorted(outs)}, length=16)}"
    return Job(id=job_id, kind=kind, stage=stage, queue=queue, params=dict(params),
               inputs=tuple(dict.fromkeys(inputs)), outputs=outs)


@dataclass
class JobGraph:
    """Jobs plus the dependencies implied by their artifact keys (a DAG)."""

    spec: ExperimentSpec
    jobs: dict[str, Job] = field(default_factory=dict)
    producer: dict[str, str] = field(default_factory=dict)
    extra_deps: dict[str, set[str]] = field(default_factory=dict)
    #: Key names of the final artifacts (``table``, ``taxonomy``, ``summary``).
    results: dict[str, str] = field(default_factory=dict)

    def add(self, job: Job) -> Job:
        if job.id in self.jobs:
            return self.jobs[job.id]
        for out in job.outputs:
            other = self.producer.get(out)
            assert other is None or other == job.id, f"two jobs produce {out}"
            self.producer[out] = job.id
        self.jobs[job.id] = job
        return job

    def deps(self, job_id: str) -> set[str]:
        """Ids of the jobs that must run before ``job_id``."""
        job = self.jobs[job_id]
        found = {self.producer[k] for k in job.inputs if k in self.producer}
        return (found | self.extra_deps.get(job_id, set())) - {job_id}

    def __len__(self) -> int:
        return len(self.jobs)

    def __iter__(self) -> Iterator[Job]:
        return iter(self.order())

    def order(self) -> list[Job]:
        """Topological order, stage by stage, stable within a stage.

        :class:`graphlib.TopologicalSorter` yields the jobs whose dependencies are done; of those,
        the earliest stage (then the earliest added) runs first.
        """
        rank = {s: i for i, s in enumerate(STAGES)}
        seq = {j: i for i, j in enumerate(self.jobs)}
        sorter = graphlib.TopologicalSorter({j: self.deps(j) for j in self.jobs})
        try:
            sorter.prepare()
        except graphlib.CycleError:
            raise PreconditionError("the job graph has a cycle") from None
        ready: list[tuple[int, int, str]] = []
        out: list[Job] = []
        while sorter.is_active():
            for j in sorter.get_ready():
                heapq.heappush(ready, (rank[self.jobs[j].stage], seq[j], j))
            _, _, j = heapq.heappop(ready)
            out.append(self.jobs[j])
            sorter.done(j)
        return out

    def stage_counts(self) -> dict[str, int]:
        counts = {s: 0 for s in STAGES}
        for job in self.jobs.values():
            counts[job.stage] += 1
        return counts

    def expand(self, plan_job: Job, plan: Mapping[str, Any]) -> list[Job]:
        """Add the higher-order transfer jobs a finished ``plan_higher_order`` job chose.

        ``plan`` is the JSON the plan job wrote (``{"target": t, "candidates": [[s1, s2], ...]}``).
        The new jobs become dependencies of the finalize job. Returns the jobs added (new ones only).
        """
        if plan_job.kind != "plan_higher_order":
            raise InvalidInputError(f"cannot expand the graph from a {plan_job.kind!r} job")
        p = plan_job.params
        added: list[Job] = []
        for sources in plan.get("candidates", []):
            job = transfer_job(target=p["target"], sources=tuple(sources), cand_kind="higher_order",
                               feature_keys=p["feature_keys"], label_keys=p["label_keys"],
                               model=p["model"], train=p["train"], seed=p["seed"], stage="higher_order")
            if job.id not in self.jobs:
                added.append(self.add(job))
        final = [j for j in self.jobs.values() if j.kind == "finalize"]
        for f in final:
            self.extra_deps.setdefault(f.id, set()).update(j.id for j in added)
        return added


# -- job builders ------------------------------------------------------------------------------

def transfer_job(*, target: str, sources: tuple[str, ...], cand_kind: str, feature_keys: Mapping[str, Any],
                 label_keys: Mapping[str, str], model: Mapping[str, Any], train: Mapping[str, Any], seed: int,
                 stage: str = "transfers") -> Job:
    """A transfer ``sources -> target``. ``feature_keys[source][split][image_key]`` name the cached
    representations, ``label_keys[split]`` the target's ground truth on the transfer/test splits."""
    feats = {s: {sp: dict(feature_keys[s][sp]) for sp in TRANSFER_SPLITS} for s in sources}
    inputs = [k for s in sources for sp in TRANSFER_SPLITS for k in feats[s][sp].values()]
    inputs += [label_keys[sp] for sp in TRANSFER_SPLITS]
    out = K.losses_key(cand_kind if cand_kind == "higher_order" else "transfer", target, sources, inputs=inputs,
                       model=dict(model), train=dict(train), seed=seed)
    params = {"target": target, "sources": list(sources), "candidate_kind": cand_kind, "features": feats,
              "labels": dict(label_keys), "model": dict(model), "train": dict(train), "seed": seed, "output": out}
    return make_job("transfer", stage, "transfer", params, inputs, [out])


def build_graph(spec: ExperimentSpec) -> JobGraph:
    """All jobs of ``spec`` that can be known before anything runs (higher orders come from plan jobs)."""
    g = JobGraph(spec=spec)
    body = spec.model_dump(mode="json")  # every block resolved, defaults filled in (spec.py's docstring)
    dataset, splits, model, train, ttrain = (body[k] for k in ("dataset", "splits", "model", "train", "transfer"))
    ds_id = K.dataset_key(spec.dataset.identity(), splits)  # a world's identity has its renderer version
    targets = spec.targets()
    sources = spec.sources()
    trained = [s for s in sources if get_task(s).trainable]
    roles = {t.name: t.role for t in spec.tasks}

    # which sample keys each split needs
    need: dict[str, set[str]] = {"train": set(), "transfer": set(), "test": set()}
    for s in trained:
        t = get_task(s)
        need["train"].update((*t.inputs, t.target))
    target_inputs: set[str] = set()
    for name in targets:
        t = get_task(name)
        target_inputs.update(t.inputs)
        for sp in TRANSFER_SPLITS:
            need[sp].update((*t.inputs, t.target))
    for sp in need:
        need[sp].discard("")
    data = {sp: {k: K.data_key(ds_id, sp, k) for k in sorted(ks)} for sp, ks in need.items()}
    all_data = [k for sp in data for k in data[sp].values()]
    g.add(make_job("render", "render", "train",
                   {"dataset": dataset, "splits": splits, "dataset_id": ds_id, "keys": data}, [], all_data))

    # task-specific networks (+ the random encoder, always present as a baseline)
    nets: dict[str, str] = {}
    for s in trained:
        t = get_task(s)
        tdata = {k: data["train"][k] for k in (*t.inputs, t.target)}
        nets[s] = K.net_key(s, data=list(tdata.values()), model=model, train=train, seed=spec.seed)
        g.add(make_job("train", "train", "train",
                       {"task": s, "data": tdata, "model": model, "train": train, "seed": spec.seed,
                        "output": nets[s]}, tdata.values(), [nets[s]]))
    nets[RANDOM] = K.net_key(RANDOM, data=[], model=model, train={}, seed=spec.seed)
    g.add(make_job("random_encoder", "train", "train", {"model": model, "seed": spec.seed, "output": nets[RANDOM]},
                   [], [nets[RANDOM]]))

    # cached representations of every source on the transfer and test splits
    img_keys = sorted(target_inputs)
    feature_keys: dict[str, dict[str, dict[str, str]]] = {}
    for s in [*trained, RANDOM]:
        feature_keys[s] = {}
        for sp in TRANSFER_SPLITS:
            fk = {k: K.features_key(nets[s], split_data=data[sp][k]) for k in img_keys}
            feature_keys[s][sp] = fk
            g.add(make_job("features", "features", "transfer",
                           {"source": s, "split": sp, "net": nets[s], "data": {k: data[sp][k] for k in img_keys},
                            "model": model, "output": fk},
                           [nets[s], *(data[sp][k] for k in img_keys)], fk.values()))

    # per target: first-order transfers, own, random, pixels, self; planning for higher orders
    candidates: dict[str, list[dict[str, Any]]] = {}
    plans: dict[str, str] = {}
    previews: dict[str, str] = {}
    pixels: dict[str, str] = {}
    first_sources = [s for s in trained if s != RANDOM]
    for tname in targets:
        t = get_task(tname)
        labels = {sp: data[sp][t.target] for sp in TRANSFER_SPLITS}
        cands: list[dict[str, Any]] = []
        srcs: list[tuple[str, ...]] = [(s,) for s in first_sources if s != tname]
        if tname in nets:
            srcs.append((tname,))
        srcs.append((RANDOM,))
        for sources_ in srcs:
            job = g.add(transfer_job(target=tname, sources=sources_, cand_kind=candidate_kind(tname, sources_),
                                     feature_keys=feature_keys, label_keys=labels, model=model, train=ttrain,
                                     seed=spec.seed))
            cands.append({"sources": list(sources_), "kind": candidate_kind(tname, sources_),
                          "losses": job.outputs[0]})
        if roles[tname] == "target":
            test = {k: data["test"][k] for k in (*t.inputs, t.target)}
            out = K.losses_key("self", tname, (), inputs=[nets[tname], *test.values()], model=model, train=train,
                               seed=spec.seed)
            prev = K.artifact_key("previews", tname, losses=out, n=N_PREVIEW)
            g.add(make_job("evaluate", "baselines", "transfer",
                           {"task": tname, "net": nets[tname], "data": test, "model": model, "output": out,
                            "preview": prev, "n_preview": N_PREVIEW},
                           [nets[tname], *test.values()], [out, prev]))
            cands.append({"sources": [tname], "kind": "self_full_supervision", "losses": out})
            previews[tname] = prev
        pdata = {sp: {k: data[sp][k] for k in (*t.inputs, t.target)} for sp in TRANSFER_SPLITS}
        pin = [k for sp in pdata for k in pdata[sp].values()]
        pout = K.losses_key("pixels", tname, (), inputs=pin, model=model, train=ttrain, seed=spec.seed)
        g.add(make_job("baseline", "baselines", "transfer",
                       {"target": tname, "data": pdata, "model": model, "train": ttrain, "seed": spec.seed,
                        "output": pout}, pin, [pout]))
        pixels[tname] = pout
        candidates[tname] = cands
        if spec.max_order > 1:
            fo = [c for c in cands if c["kind"] == "first_order"]
            if len(fo) >= 2:
                plan_out = K.artifact_key("plans", tname, losses=[c["losses"] for c in fo], beam=spec.beam,
                                          max_order=spec.max_order)
                g.add(make_job("plan_higher_order", "plan", "control",
                               {"target": tname, "first_order": fo, "beam": spec.beam, "max_order": spec.max_order,
                                "feature_keys": feature_keys, "label_keys": labels, "model": model,
                                "train": ttrain, "seed": spec.seed, "output": plan_out},
                               [c["losses"] for c in fo], [plan_out]))
                plans[tname] = plan_out

    # finalize: AHP per target, the table, the taxonomy at the default budget
    fin_params: dict[str, Any] = {
        "targets": targets, "roles": roles, "candidates": candidates, "pixels": pixels, "plans": plans,
        "previews": previews, "budget": spec.budget, "max_order": spec.max_order, "bootstrap": spec.bootstrap,
        "seed": spec.seed, "model": model, "transfer_train": ttrain,
    }
    fin_id = K.digest(fin_params)
    results = {
        "table": f"results/{fin_id}/transfers.csv",
        "taxonomy": f"results/{fin_id}/taxonomy.json",
        "summary": f"results/{fin_id}/summary.json",
    }
    loss_outs = {t: f"results/{fin_id}/losses/{t}" for t in targets}
    fin_params["outputs"] = {**results, "losses": loss_outs}
    fin_inputs = [c["losses"] for cs in candidates.values() for c in cs] + list(pixels.values()) + list(plans.values())
    g.add(make_job("finalize", "finalize", "control", fin_params, fin_inputs,
                   [*results.values(), *loss_outs.values()]))
    g.results = dict(results)
    g.results.update({f"losses:{t}": k for t, k in loss_outs.items()})
    if spec.transfer_jobs != "per-transfer":
        group_transfers(g, by="source" if spec.transfer_jobs == "per-source" else "target")
    return g


def group_transfers(g: JobGraph, *, by: Literal["source", "target"]) -> None:
    """Replace the first-order ``transfer`` jobs of each source (or target) by one ``transfer_group`` job.

    The group job's params list its members' params and its outputs are theirs, so everything
    downstream (planning, finalize) reads the same artifacts; a group of one keeps its plain job.
    Higher-order transfers (added later by planning) stay one job each.
    """
    groups: dict[str, list[Job]] = {}
    for job in g.jobs.values():
        if job.kind == "transfer" and len(job.params["sources"]) == 1:
            key = job.params["sources"][0] if by == "source" else job.params["target"]
            groups.setdefault(key, []).append(job)
    for key, members in groups.items():
        if len(members) < 2:
            continue
        for m in members:
            del g.jobs[m.id]
            del g.producer[m.outputs[0]]
        g.add(make_job("transfer_group", "transfers", "transfer",
                       {"by": by, by: key, "members": [dict(m.params) for m in members]},
                       [k for m in members for k in m.inputs], [m.outputs[0] for m in members]))
