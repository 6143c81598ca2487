"""The job graph of an experiment: pure data, no torch, shared by the local and Celery executors.

:func:`build_graph` turns an :class:`~taskonomy.contract.spec.ExperimentSpec` into jobs
(:mod:`taskonomy.contract.jobs`, whose table lists every kind) whose inputs and outputs are
content-addressed artifact keys (:mod:`taskonomy.contract.keys`); the dependencies follow from
the keys. ``plan_higher_order`` jobs extend the graph once they have run (:meth:`JobGraph.expand`).
"""

from __future__ import annotations

import graphlib
import heapq
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from taskonomy.contract import keys as K
from taskonomy.contract.config import ModelConfig, TrainSettings
from taskonomy.contract.jobs import (
    STAGES,
    TRANSFER_SPLITS,
    BaselineParams,
    Candidate,
    EvaluateParams,
    FeatureKeys,
    FeaturesParams,
    FinalizeOutputs,
    FinalizeParams,
    Job,
    JobKind,
    PlanParams,
    ProxyFinalizeParams,
    ProxyOutputs,
    RandomEncoderParams,
    RenderParams,
    TrainParams,
    TransferGroupParams,
    TransferHalvingParams,
    TransferParams,
    make_job,
)
from taskonomy.contract.spec import ExperimentSpec
from taskonomy.errors import InvalidInputError, PreconditionError
from taskonomy.tasks import RANDOM, candidate_kind, get_task

#: Number of test images whose predictions are stored for the report.
N_PREVIEW = 4


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

    def transfers(self) -> list[TransferParams]:
        """The params of every transfer the graph trains so far: one per ``transfer`` job, and the
        members of the ``transfer_group`` and ``transfer_halving`` jobs."""
        out: list[TransferParams] = []
        for job in self.jobs.values():
            if isinstance(job.params, TransferParams):
                out.append(job.params)
            elif isinstance(job.params, TransferGroupParams | TransferHalvingParams):
                out.extend(job.params.members)
        return out

    def finalize_params(self) -> FinalizeParams:
        """The finalize job's params: where the table, taxonomy, summary and per-target losses go
        (PreconditionError for a proxy-estimated experiment, which has none of its trained candidates)."""
        for job in self.jobs.values():
            if job.kind == JobKind.FINALIZE:
                return job.typed(FinalizeParams)
        raise PreconditionError("this experiment estimates affinities by proxy: it has no trained candidates, "
                                "summary or per-image losses")

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
        if plan_job.kind != JobKind.PLAN_HIGHER_ORDER:
            raise InvalidInputError(f"cannot expand the graph from a {plan_job.kind!r} job")
        p = plan_job.typed(PlanParams)
        added: list[Job] = []
        for sources in plan.get("candidates", []):
            job = transfer_job(target=p.target, sources=tuple(sources), cand_kind="higher_order",
                               feature_keys=p.feature_keys, label_keys=p.label_keys,
                               model=p.model, train=p.train, seed=p.seed, stage="higher_order")
            if job.id not in self.jobs:
                added.append(self.add(job))
        final = [j for j in self.jobs.values() if j.kind == JobKind.FINALIZE]
        for f in final:
            self.extra_deps.setdefault(f.id, set()).update(j.id for j in added)
        return added


# -- job builders ------------------------------------------------------------------------------

def transfer_params(*, target: str, sources: tuple[str, ...], cand_kind: str, feature_keys: Mapping[str, Any],
                    label_keys: Mapping[str, str], model: ModelConfig, train: TrainSettings, seed: int,
                    estimate: Mapping[str, Any] | None = None) -> tuple[TransferParams, list[str]]:
    """The params and inputs of a transfer ``sources -> target``. ``feature_keys[source][split][image_key]``
    name the cached representations, ``label_keys[split]`` the target's ground truth on the
    transfer/test splits. ``estimate`` (None: fully trained) enters the output's key: losses
    estimated another way never stand in for trained ones."""
    feats = {s: {sp: dict(feature_keys[s][sp]) for sp in TRANSFER_SPLITS} for s in sources}
    inputs = [k for s in sources for sp in TRANSFER_SPLITS for k in feats[s][sp].values()]
    inputs += [label_keys[sp] for sp in TRANSFER_SPLITS]
    out = K.losses_key(cand_kind if cand_kind == "higher_order" else "transfer", target, sources, inputs=inputs,
                       model=model.to_dict(), train=train.to_dict(), seed=seed,
                       estimate=None if estimate is None else dict(estimate))
    params = TransferParams(target=target, sources=sources, candidate_kind=cand_kind, features=feats,
                            labels=dict(label_keys), model=model, train=train, seed=seed, output=out)
    return params, inputs


def transfer_job(*, stage: str = "transfers", **kwargs: Any) -> Job:
    """A ``transfer`` job (arguments of :func:`transfer_params`)."""
    params, inputs = transfer_params(**kwargs)
    return make_job(stage, "transfer", params, inputs, [params.output])


def build_graph(spec: ExperimentSpec) -> JobGraph:
    """All jobs of ``spec`` that can be known before anything runs (higher orders come from plan jobs)."""
    g = JobGraph(spec=spec)
    model, train, ttrain, seed = spec.model, spec.train, spec.transfer, spec.seed
    splits = spec.splits.model_dump()
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
    g.add(make_job("render", "train", RenderParams(dataset=spec.dataset, splits=spec.splits, dataset_id=ds_id,
                                                   keys=data), [], all_data))

    # task-specific networks (+ the random encoder, always present as a baseline)
    nets: dict[str, str] = {}
    for s in trained:
        t = get_task(s)
        tdata = {k: data["train"][k] for k in (*t.inputs, t.target)}
        nets[s] = K.net_key(s, data=list(tdata.values()), model=model.to_dict(), train=train.to_dict(), seed=seed)
        g.add(make_job("train", "train", TrainParams(task=s, data=tdata, model=model, train=train, seed=seed,
                                                     output=nets[s]), tdata.values(), [nets[s]]))
    nets[RANDOM] = K.net_key(RANDOM, data=[], model=model.to_dict(), train={}, seed=seed)
    g.add(make_job("train", "train", RandomEncoderParams(model=model, seed=seed, output=nets[RANDOM]), [],
                   [nets[RANDOM]]))

    # cached representations of every source on the transfer and test splits
    img_keys = sorted(target_inputs)
    feature_keys: FeatureKeys = {}
    for s in [*trained, RANDOM]:
        feature_keys[s] = {}
        for sp in TRANSFER_SPLITS:
            fk = {k: K.features_key(nets[s], split_data=data[sp][k]) for k in img_keys}
            feature_keys[s][sp] = fk
            g.add(make_job("features", "transfer",
                           FeaturesParams(source=s, split=sp, net=nets[s], data={k: data[sp][k] for k in img_keys},
                                          model=model, output=fk),
                           [nets[s], *(data[sp][k] for k in img_keys)], fk.values()))

    # per target: first-order transfers, own, random, pixels, self; planning for higher orders
    candidates: dict[str, list[Candidate]] = {}
    plans: dict[str, str] = {}
    previews: dict[str, str] = {}
    pixels: dict[str, str] = {}
    first_sources = [s for s in trained if s != RANDOM]
    for tname in targets:
        t = get_task(tname)
        labels = {sp: data[sp][t.target] for sp in TRANSFER_SPLITS}
        cands: list[Candidate] = []
        srcs: list[tuple[str, ...]] = [(s,) for s in first_sources if s != tname]
        if tname in nets:
            srcs.append((tname,))
        srcs.append((RANDOM,))
        for sources_ in srcs:
            kind = candidate_kind(tname, sources_)
            job = g.add(transfer_job(target=tname, sources=sources_, cand_kind=kind, feature_keys=feature_keys,
                                     label_keys=labels, model=model, train=ttrain, seed=seed,
                                     estimate=spec.affinity.transfer_estimate()))
            cands.append(Candidate(sources=sources_, kind=kind, losses=job.outputs[0]))
        if roles[tname] == "target":
            test = {k: data["test"][k] for k in (*t.inputs, t.target)}
            out = K.losses_key("self", tname, (), inputs=[nets[tname], *test.values()], model=model.to_dict(),
                               train=train.to_dict(), seed=seed)
            prev = K.artifact_key("previews", tname, losses=out, n=N_PREVIEW)
            g.add(make_job("baselines", "transfer",
                           EvaluateParams(task=tname, net=nets[tname], data=test, model=model, output=out,
                                          preview=prev, n_preview=N_PREVIEW),
                           [nets[tname], *test.values()], [out, prev]))
            cands.append(Candidate(sources=(tname,), kind="self_full_supervision", losses=out))
            previews[tname] = prev
        pdata = {sp: {k: data[sp][k] for k in (*t.inputs, t.target)} for sp in TRANSFER_SPLITS}
        pin = [k for sp in pdata for k in pdata[sp].values()]
        pout = K.losses_key("pixels", tname, (), inputs=pin, model=model.to_dict(), train=ttrain.to_dict(), seed=seed)
        g.add(make_job("baselines", "transfer",
                       BaselineParams(target=tname, data=pdata, model=model, train=ttrain, seed=seed, output=pout),
                       pin, [pout]))
        pixels[tname] = pout
        candidates[tname] = cands
        if spec.max_order > 1:
            fo = [c for c in cands if c.kind == "first_order"]
            if len(fo) >= 2:
                plan_out = K.artifact_key("plans", tname, losses=[c.losses for c in fo], beam=spec.beam,
                                          max_order=spec.max_order)
                g.add(make_job("plan", "control",
                               PlanParams(target=tname, first_order=fo, beam=spec.beam, max_order=spec.max_order,
                                          feature_keys=feature_keys, label_keys=labels, model=model, train=ttrain,
                                          seed=seed, output=plan_out),
                               [c.losses for c in fo], [plan_out]))
                plans[tname] = plan_out

    # finalize: AHP per target, the table, the taxonomy at the default budget
    fin_body: dict[str, Any] = {
        "targets": targets, "roles": roles, "candidates": candidates, "pixels": pixels, "plans": plans,
        "previews": previews, "budget": spec.budget, "max_order": spec.max_order, "bootstrap": spec.bootstrap,
        "seed": seed, "model": model, "transfer_train": ttrain,
    }
    fin_id = K.digest(fin_body)
    outputs = FinalizeOutputs(table=f"results/{fin_id}/transfers.csv", taxonomy=f"results/{fin_id}/taxonomy.json",
                              summary=f"results/{fin_id}/summary.json",
                              losses={t: f"results/{fin_id}/losses/{t}" for t in targets})
    fin = FinalizeParams(**fin_body, outputs=outputs)
    fin_inputs = [c.losses for cs in candidates.values() for c in cs] + list(pixels.values()) + list(plans.values())
    g.add(make_job("finalize", "control", fin, fin_inputs,
                   [outputs.table, outputs.taxonomy, outputs.summary, *outputs.losses.values()]))
    g.results = {"table": outputs.table, "taxonomy": outputs.taxonomy, "summary": outputs.summary}
    g.results.update({f"losses:{t}": k for t, k in outputs.losses.items()})
    if spec.affinity.estimate == "proxy":
        score_by_proxy(g, spec)
    elif spec.affinity.estimate == "halving":
        halve_transfers(g, spec.affinity.halving_budget)
    elif spec.transfer_jobs != "per-transfer":
        group_transfers(g, by=_GROUP_BY[spec.transfer_jobs])
    return g


_GROUP_BY: dict[str, Literal["source", "target", "all"]] = {"per-source": "source", "per-target": "target",
                                                             "all": "all"}


def _first_order(g: JobGraph) -> list[Job]:
    """The first-order ``transfer`` jobs (first order, own encoder, random) of ``g``."""
    return [j for j in g.jobs.values() if j.kind == JobKind.TRANSFER and len(j.typed(TransferParams).sources) == 1]


def _remove(g: JobGraph, jobs: list[Job]) -> None:
    for job in jobs:
        del g.jobs[job.id]
        for out in job.outputs:
            del g.producer[out]


def _replace(g: JobGraph, members: list[Job], params: TransferGroupParams | TransferHalvingParams) -> None:
    """Replace the transfer jobs ``members`` by one job of ``params`` with their inputs and outputs
    (everything downstream reads the same artifacts)."""
    _remove(g, members)
    g.add(make_job("transfers", "transfer", params, [k for m in members for k in m.inputs],
                   [m.outputs[0] for m in members]))


def halve_transfers(g: JobGraph, budget: float) -> None:
    """Replace the first-order ``transfer`` jobs by one ``transfer_halving`` job (``affinity.estimate:
    halving``); their output keys already name the estimate (:meth:`AffinitySpec.transfer_estimate`)."""
    members = _first_order(g)
    if members:
        _replace(g, members, TransferHalvingParams(budget=budget, members=[m.typed(TransferParams) for m in members]))


def score_by_proxy(g: JobGraph, spec: ExperimentSpec) -> None:
    """Replace everything after the cached features by one ``proxy_finalize`` job (``affinity.estimate:
    proxy``): no transfer, baseline or evaluation is trained; the results are the proxy table, its
    taxonomy and the proxies' scores."""
    members = [m.typed(TransferParams) for m in _first_order(g)]
    fin = next(j for j in g.jobs.values() if j.kind == JobKind.FINALIZE).typed(FinalizeParams)
    _remove(g, [j for j in g.jobs.values() if j.stage not in ("render", "train", "features")
                or (j.kind == JobKind.FEATURES and j.typed(FeaturesParams).split != "transfer")])
    body: dict[str, Any] = {"method": spec.affinity.proxy, "transfers": members, "roles": fin.roles,
                            "targets": fin.targets, "budget": spec.budget, "max_order": spec.max_order,
                            "beam": spec.beam, "seed": spec.seed}
    fin_id = K.digest({"estimate": "proxy", **body})
    outputs = ProxyOutputs(table=f"results/{fin_id}/transfers.csv", taxonomy=f"results/{fin_id}/taxonomy.json",
                           proxies=f"results/{fin_id}/proxies.csv")
    inputs = [k for m in members for s in m.sources for k in m.features[s]["transfer"].values()]
    inputs += [m.labels["transfer"] for m in members]
    g.add(make_job("finalize", "control", ProxyFinalizeParams(**body, outputs=outputs), inputs,
                   [outputs.table, outputs.taxonomy, outputs.proxies]))
    g.results = {"table": outputs.table, "taxonomy": outputs.taxonomy, "proxies": outputs.proxies}


def group_transfers(g: JobGraph, *, by: Literal["source", "target", "all"]) -> None:
    """Replace the first-order ``transfer`` jobs of each source (or target, or all of them) by one
    ``transfer_group`` job.

    The group job's params list its members' params and its outputs are theirs, so everything
    downstream (planning, finalize) reads the same artifacts; a group of one keeps its plain job.
    Higher-order transfers (added later by planning) stay one job each.
    """
    groups: dict[str, list[Job]] = {}
    for job in _first_order(g):
        p = job.typed(TransferParams)
        groups.setdefault(p.sources[0] if by == "source" else p.target if by == "target" else "all", []).append(job)
    for key, members in groups.items():
        if len(members) >= 2:
            _replace(g, members, TransferGroupParams(by=by, group=key, members=[m.typed(TransferParams)
                                                                              for m in members]))
