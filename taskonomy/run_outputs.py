"""A finished run's outputs beside its table: the experiment record, model cards, the report.

Execution (:mod:`taskonomy.execution`) only produces artifacts; the model bank
(:mod:`taskonomy.modelbank`) and the report (:mod:`taskonomy.report`) read them. This module
composes the three for ``taskonomy run`` (and the benchmarks)::

    result = run_experiment(spec, out_dir=out)        # transfers.csv, taxonomy.json, the store
    published = publish_run(result, report=True)      # experiment.json, model cards, report.html

so neither execution nor its readers import each other's callers.

An experiment run by the workers has no output directory: :func:`publish_report` writes the same
report into its artifact store instead (``experiments/<id>/report/``), where the gateway serves it.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from taskonomy.contract import REPORT_PAGE, FinalizeParams, report_prefix
from taskonomy.execution.run import RunResult
from taskonomy.modelbank import Experiment, list_models, write_manifest
from taskonomy.report import write_report
from taskonomy.store import ArtifactStore


@dataclass
class Published:
    """What :func:`publish_run` wrote."""

    manifest: dict[str, Any]
    cards: list[dict[str, Any]]
    report_path: str | None
    seconds: dict[str, float] = field(default_factory=dict)


def publish_run(result: RunResult, *, report: bool = True) -> Published:
    """Record the run in ``OUT/experiment.json`` (and the store), write a card per trained network
    and, with ``report``, ``OUT/report.html`` with its figures."""
    spec = result.graph.spec
    manifest = write_manifest(spec, result.store, result.out_dir)
    fin = result.finalize_params()
    if fin is None:  # a proxy estimate: no transfer trained, nothing to card or report
        return Published(manifest=manifest, cards=[], report_path=None, seconds={})
    cards = list_models(Experiment(id=spec.content_key(), spec=spec, store=result.store))
    report_path = None
    seconds: dict[str, float] = {}
    if report:
        t0 = time.perf_counter()
        report_path = write_report(result.out_dir, store=result.store, finalize_params=fin,
                                   title=f"Taskonomy: {spec.name}", stats=result.stats.to_dict(),
                                   spec=spec.model_dump(mode="json"))
        seconds["report"] = time.perf_counter() - t0
    return Published(manifest=manifest, cards=cards, report_path=report_path, seconds=seconds)


def publish_report(store: ArtifactStore, experiment_id: str, *, spec: Mapping[str, Any],
                   finalize_params: FinalizeParams | Mapping[str, Any],
                   stats: Mapping[str, Any] | None = None) -> list[str]:
    """Write the experiment's report (``report.html``, its figures, ``validity.json``) into ``store``
    under :func:`report_prefix`, ``report.html`` last (its presence means the report is complete);
    returns the keys written. Rewritten by every run (a task added changes it), so not write-once."""
    if not isinstance(finalize_params, FinalizeParams):  # a worker's job params, as JSON
        finalize_params = FinalizeParams.model_validate(finalize_params)
    with tempfile.TemporaryDirectory(prefix="taskonomy-report-") as tmp:
        write_report(tmp, store=store, finalize_params=finalize_params, title=f"Taskonomy: {spec.get('name', '')}",
                     stats=dict(stats) if stats is not None else None, spec=dict(spec))
        names = sorted(os.listdir(tmp), key=lambda n: (n == REPORT_PAGE, n))
        keys = []
        for name in names:
            with open(os.path.join(tmp, name), "rb") as fh:
                data = fh.read()
            key = f"{report_prefix(experiment_id)}/{name}"
            ArtifactStore.put_bytes(store, key, data)
            keys.append(key)
    return keys
