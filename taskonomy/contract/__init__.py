"""The experiment contract: what to compute, as data. No torch, no numba, no execution.

Everything a service needs to accept, validate, key and schedule an experiment, and nothing
that runs one: the gateway and the solver import this package (and the core's analysis
packages), never :mod:`taskonomy.execution`; a test asserts that importing the gateway loads
neither torch nor numba.

>>> from taskonomy.contract import build_graph, preset
>>> graph = build_graph(preset("quick"))
>>> sorted(graph.stage_counts())[:2]
['baselines', 'features']

Modules:

- :mod:`~taskonomy.contract.config`: the network and training blocks (:class:`ModelConfig`,
  :class:`TrainSettings`, :class:`TrainConfig`) and the frozen pydantic base of every block;
- :mod:`~taskonomy.contract.world`: the built-in world's spec (:class:`WorldSpec`,
  :class:`WorldOptions`, :data:`WORLD_VERSION`);
- :mod:`~taskonomy.contract.spec`: the experiment spec (:class:`ExperimentSpec`: dataset, tasks and
  roles, splits, networks, orders, how affinities are estimated and transfers scheduled);
- :mod:`~taskonomy.contract.presets`: ``quick``, ``standard``, ``paper``;
- :mod:`~taskonomy.contract.keys`: content-addressed artifact keys;
- :mod:`~taskonomy.contract.jobs`: the job kinds (:class:`JobKind`), one typed parameter model per
  kind, the :class:`Job` and its JSON form;
- :mod:`~taskonomy.contract.graph`: :func:`build_graph`, the experiment as a job graph.

What runs the jobs lives in :mod:`taskonomy.execution` (one handler module per kind, the local
executor) and in the services' workers.
"""

from __future__ import annotations

from taskonomy.contract.config import (
    NORMS,
    PRECISIONS,
    STRIDES,
    ConfigModel,
    FrozenModel,
    ModelConfig,
    TrainConfig,
    TrainSettings,
    validate_device,
)
from taskonomy.contract.graph import N_PREVIEW, JobGraph, build_graph, transfer_job
from taskonomy.contract.jobs import (
    FINAL_KINDS,
    PARAMS,
    QUEUES,
    STAGES,
    TRANSFER_SPLITS,
    BaselineParams,
    Candidate,
    EvaluateParams,
    FeaturesParams,
    FinalizeOutputs,
    FinalizeParams,
    Job,
    JobKind,
    JobParams,
    PlanParams,
    ProxyFinalizeParams,
    ProxyOutputs,
    Queue,
    RandomEncoderParams,
    RenderParams,
    TrainParams,
    TransferGroupParams,
    TransferHalvingParams,
    TransferParams,
    job_kind,
)
from taskonomy.contract.keys import (
    PIPELINE_VERSION,
    REPORT_PAGE,
    artifact_key,
    canonical_json,
    digest,
    report_key,
    report_prefix,
    transfer_weights_key,
)
from taskonomy.contract.presets import CPU_MODEL, PRESETS, QUICK_TASKS, paper, quick, standard
from taskonomy.contract.spec import (
    ESTIMATES,
    PROXY_METHODS,
    ROLES,
    TRANSFER_JOBS,
    AffinitySpec,
    DatasetSpec,
    ExperimentSpec,
    FolderDataset,
    FolderOptions,
    ProxyMethod,
    SplitSpec,
    TaskEntry,
    TrainSpec,
    WorldDataset,
    check_display_text,
    preset,
)
from taskonomy.contract.world import MAX_SIZE, MIN_SIZE, WORLD_VERSION, WorldOptions, WorldSpec

__all__ = [
    "CPU_MODEL", "ESTIMATES", "FINAL_KINDS", "MAX_SIZE", "MIN_SIZE", "NORMS", "N_PREVIEW", "PARAMS",
    "PIPELINE_VERSION", "PRECISIONS", "PRESETS", "PROXY_METHODS", "QUEUES", "QUICK_TASKS", "REPORT_PAGE", "ROLES",
    "STAGES", "STRIDES", "TRANSFER_JOBS", "TRANSFER_SPLITS", "WORLD_VERSION",
    "AffinitySpec", "BaselineParams", "Candidate", "ConfigModel", "DatasetSpec", "EvaluateParams", "ExperimentSpec",
    "FeaturesParams", "FinalizeOutputs", "FinalizeParams", "FolderDataset", "FolderOptions", "FrozenModel", "Job",
    "JobGraph", "JobKind", "JobParams", "ModelConfig", "PlanParams", "ProxyFinalizeParams", "ProxyMethod",
    "ProxyOutputs", "Queue", "RandomEncoderParams", "RenderParams", "SplitSpec", "TaskEntry", "TrainConfig",
    "TrainParams", "TrainSettings", "TrainSpec", "TransferGroupParams", "TransferHalvingParams", "TransferParams",
    "WorldDataset", "WorldOptions", "WorldSpec",
    "artifact_key", "build_graph", "canonical_json", "check_display_text", "digest", "job_kind", "paper", "preset",
    "quick", "report_key", "report_prefix", "standard", "transfer_job", "transfer_weights_key", "validate_device",
]
