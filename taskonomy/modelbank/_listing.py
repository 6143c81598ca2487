"""An experiment's trained networks, found from its spec and the artifact store alone (no torch).

``taskonomy run --out DIR`` records what it ran in ``DIR/experiment.json`` (the spec, the store
URL and the experiment id) and in the store under ``experiments/<id>/manifest.json``, so an
experiment can be named by its run directory or, with the store, by its id.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from taskonomy.contract import (
    EvaluateParams,
    ExperimentSpec,
    JobKind,
    TrainParams,
    build_graph,
    transfer_weights_key,
)
from taskonomy.errors import InvalidInputError, NotFoundError
from taskonomy.files import atomic_write
from taskonomy.modelbank._cards import CARD_FORMAT, ModelEntry, build_card, card_key, index_key
from taskonomy.store import ArtifactStore

#: Name of the run directory's record of the experiment it ran.
MANIFEST = "experiment.json"


def manifest_key(experiment_id: str) -> str:
    return f"experiments/{experiment_id}/manifest.json"


@dataclass
class Experiment:
    """An experiment whose artifacts are in ``store``."""

    id: str
    spec: ExperimentSpec
    store: ArtifactStore

    def spec_dict(self) -> dict[str, Any]:
        return dict(self.spec.model_dump(mode="json"))


def manifest(spec: ExperimentSpec, store: ArtifactStore) -> dict[str, Any]:
    """What ``DIR/experiment.json`` holds."""
    graph = build_graph(spec)
    return {"format": "taskonomy.experiment/1", "id": spec.content_key(), "store": store.url,
            "spec": spec.model_dump(mode="json"), "results": dict(graph.results)}


def write_manifest(spec: ExperimentSpec, store: ArtifactStore, out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Record the experiment in ``out_dir/experiment.json`` and in the store; returns the manifest."""
    body = manifest(spec, store)
    store.put_json(manifest_key(body["id"]), body)
    atomic_write(os.path.join(os.fspath(out_dir), MANIFEST), json.dumps(body, indent=1, sort_keys=True))
    return body


def open_experiment(ref: str, *, store: str | None = None) -> Experiment:
    """An experiment by run directory (``taskonomy run --out DIR``) or by id with ``store``."""
    path = os.path.join(ref, MANIFEST) if os.path.isdir(ref) else ref
    if os.path.isfile(path):
        try:
            with open(path, encoding="utf-8") as fh:
                body = json.load(fh)
            spec_data, exp_id, url = body["spec"], str(body["id"]), str(body["store"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInputError(f"{path!r} is not an experiment record written by taskonomy run: {exc!r}") from None
        art = ArtifactStore(store or url)
    elif store is not None:
        art = ArtifactStore(store)
        try:
            body = art.get_json(manifest_key(ref))
        except NotFoundError:
            raise NotFoundError(f"no experiment {ref!r} in the store {art.url} (expected {manifest_key(ref)!r})") \
                from None
        spec_data, exp_id = body["spec"], str(body["id"])
    else:
        raise NotFoundError(f"experiment {ref!r}: not a run directory with {MANIFEST} (from taskonomy run --out); "
                            "give an experiment id together with --store URL")
    spec = ExperimentSpec.parse(spec_data, origin=f"experiment {exp_id!r}")
    return Experiment(id=exp_id, spec=spec, store=art)


def model_entries(spec: ExperimentSpec, store: ArtifactStore) -> tuple[list[ModelEntry], str]:
    """Every network the experiment's graph trains (task-specific, then transfers incl. higher
    order ones its plans chose) and the key of its finalize summary."""
    graph = build_graph(spec)
    evaluated = {p.net: p.output for j in graph.jobs.values() if j.kind == JobKind.EVALUATE
                 for p in [j.typed(EvaluateParams)]}
    targets = set(spec.targets())
    entries: list[ModelEntry] = []
    fin = graph.finalize_params()
    summary = fin.outputs.summary
    self_losses = {c.losses: t for t, cs in fin.candidates.items() for c in cs if c.kind == "self_full_supervision"}
    for job in graph.jobs.values():
        if job.kind == JobKind.TRAIN:
            key = job.outputs[0]
            losses = evaluated.get(key)
            entries.append(ModelEntry(key=key, task=job.typed(TrainParams).task, role="task_specific", sources=(),
                                      candidate_kind="self_full_supervision",
                                      losses=losses if losses in self_losses else None, trained_on="train"))
    transfers: list[tuple[str, tuple[str, ...], str, str]] = []
    for p in graph.transfers():  # a transfer stopped by successive halving has no weights: left out below
        transfers.append((p.target, tuple(p.sources), p.candidate_kind, p.output))
    for job in graph.jobs.values():
        if job.kind == JobKind.PLAN_HIGHER_ORDER and store.exists(job.outputs[0]):
            plan = store.get_json(job.outputs[0])
            for c in plan.get("higher_order", []):
                transfers.append((str(plan["target"]), tuple(c["sources"]), str(c["kind"]), str(c["losses"])))
    for target, sources, kind, losses in transfers:
        if target in targets:
            entries.append(ModelEntry(key=transfer_weights_key(losses), task=target, role="transfer",
                                      sources=sources, candidate_kind=kind, losses=losses, trained_on="transfer"))
    return entries, summary


def list_models(exp: Experiment, *, refresh: bool = False) -> list[dict[str, Any]]:
    """The cards of every trained network of ``exp`` whose weights are in the store.

    Missing cards (or cards written for another experiment) are built and stored; the list is
    also stored as the experiment's index. Networks not trained yet are left out.
    """
    store = exp.store
    entries, summary_key = model_entries(exp.spec, store)
    summary = store.get_json(summary_key) if store.exists(summary_key) else None
    spec = exp.spec_dict()
    cards: list[dict[str, Any]] = []
    for entry in entries:
        if not store.exists(entry.key):
            continue
        ck = card_key(entry.key)
        card = None
        if not refresh and store.exists(ck):
            old = store.get_json(ck)
            complete = summary is None or old.get("transfer") is not None or entry.losses is None
            if isinstance(old, dict) and old.get("format") == CARD_FORMAT and old.get("experiment") == exp.id \
                    and complete and (old.get("test") is not None or entry.losses is None):
                card = old
        if card is None:
            card = build_card(entry, store=store, spec=spec, experiment_id=exp.id, summary=summary)
            store.put_json(ck, card, meta={"task": entry.task, "role": entry.role, "weights": entry.key})
        cards.append(card)
    store.put_json(index_key(exp.id), {"experiment": exp.id, "models": [c["key"] for c in cards]})
    return cards


def chosen_transfers(exp: Experiment) -> list[dict[str, Any]]:
    """The edges of the experiment's taxonomy (``taxonomy.json``): ``{"target", "sources"}`` each."""
    key = build_graph(exp.spec).results["taxonomy"]
    if not exp.store.exists(key):
        return []
    tax = exp.store.get_json(key)
    return [{"target": str(e["target"]), "sources": [str(s) for s in e["sources"]]}
            for e in tax.get("edges", []) if e.get("sources")]
