"""Jobs: one kind enum, one typed parameter model per kind, and the job itself.

A :class:`Job` reads ``inputs`` and writes ``outputs`` (artifact keys, :mod:`taskonomy.contract.keys`)
and carries in ``params`` everything it needs to run on its own, so a worker needs nothing but
the job and the artifact store. On the wire (Celery messages, the run book in Redis) a job is
JSON (:meth:`Job.to_dict`); :meth:`Job.from_dict` validates the params against the model of its
kind, so a malformed job is refused before any work. Job ids derive from the outputs: the same
work asked for by two experiments is the same job.

=================  =========  ============  ======================================================
kind               queue      stage         what it produces
=================  =========  ============  ======================================================
render             train      render        every sample key a task needs, per split
train              train      train         a task-specific network trained on the train split
random_encoder     train      train         the frozen randomly initialised encoder (``random``)
features           transfer   features      one source encoder's representation of a split
transfer           transfer   transfers     per-test-image losses of one transfer (first order,
                                            own encoder, random; higher order after planning)
transfer_group     transfer   transfers     the outputs of several first-order transfers, trained
                                            together in one fused loop (``transfer_jobs``)
transfer_halving   transfer   transfers     the outputs of every first-order transfer, estimated by
                                            successive halving (``affinity.estimate: halving``)
baseline           transfer   baselines     per-test-image losses of ``pixels`` (the image alone)
evaluate           transfer   baselines     per-test-image losses of ``self`` + sample predictions
plan_higher_order  control    plan          the higher-order source sets of one target; extends
                                            the graph when it has run
finalize           control    finalize      AHP per target, the transfer table, the taxonomy
proxy_finalize     control    finalize      the table and taxonomy from training-free proxies
                                            (``affinity.estimate: proxy``)
=================  =========  ============  ======================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import Field, ValidationError

from taskonomy.contract.config import FrozenModel, Int, ModelConfig, TrainConfig, TrainSettings
from taskonomy.contract.keys import digest
from taskonomy.contract.spec import DatasetSpec, SplitSpec
from taskonomy.errors import InvalidInputError, format_validation_error


class JobKind(StrEnum):
    """The kinds of job (see the module's table)."""

    RENDER = "render"
    TRAIN = "train"
    RANDOM_ENCODER = "random_encoder"
    FEATURES = "features"
    TRANSFER = "transfer"
    TRANSFER_GROUP = "transfer_group"
    TRANSFER_HALVING = "transfer_halving"
    BASELINE = "baseline"
    EVALUATE = "evaluate"
    PLAN_HIGHER_ORDER = "plan_higher_order"
    FINALIZE = "finalize"
    PROXY_FINALIZE = "proxy_finalize"


#: The queues jobs are sent to: ``train`` and ``transfer`` (GPU workers) and ``control`` (light jobs).
Queue = Literal["train", "transfer", "control"]
QUEUES: tuple[str, ...] = ("train", "transfer", "control")
#: Stages in execution order (progress is shown per stage).
STAGES: tuple[str, ...] = ("render", "train", "features", "transfers", "baselines", "plan", "higher_order",
                           "finalize")
#: Splits on which transfers train (``transfer``) and are evaluated (``test``).
TRANSFER_SPLITS: tuple[str, ...] = ("transfer", "test")

#: Artifact keys of one split's samples: sample key (``rgb``, ``normal``, ...) -> data artifact.
SampleKeys = dict[str, str]
#: Cached representations: source -> split -> image key -> features artifact.
FeatureKeys = dict[str, dict[str, dict[str, str]]]


class JobParams(FrozenModel):
    """What one kind of job needs; every field JSON-serialisable."""

    kind: ClassVar[JobKind]


class RenderParams(JobParams):
    """Render (or load) every sample key a task of the experiment needs, per split."""

    kind: ClassVar[JobKind] = JobKind.RENDER
    dataset: DatasetSpec
    splits: SplitSpec
    dataset_id: str
    keys: dict[str, SampleKeys] = Field(description="split -> sample key -> data artifact to write")


class TrainingParams(JobParams):
    """What every job that trains a network needs: its architecture, how it trains, the seed, and
    the artifact it writes."""

    model: ModelConfig
    train: TrainSettings
    seed: Int
    output: str

    def train_config(self) -> TrainConfig:
        """The training settings with this job's seed: what :mod:`taskonomy.training` takes."""
        return TrainConfig(**self.train.to_dict(), seed=self.seed)


class TrainParams(TrainingParams):
    """Train one task-specific network on the train split."""

    kind: ClassVar[JobKind] = JobKind.TRAIN
    task: str
    data: SampleKeys


class RandomEncoderParams(JobParams):
    """Initialise the frozen random encoder (the ``random`` source)."""

    kind: ClassVar[JobKind] = JobKind.RANDOM_ENCODER
    model: ModelConfig
    seed: Int
    output: str


class FeaturesParams(JobParams):
    """One source encoder's representation of one split's input images."""

    kind: ClassVar[JobKind] = JobKind.FEATURES
    source: str
    split: str
    net: str
    data: SampleKeys
    model: ModelConfig
    output: dict[str, str] = Field(description="image key -> features artifact")


class TransferParams(TrainingParams):
    """One transfer ``sources -> target``: trained on the transfer split, evaluated on the test split."""

    kind: ClassVar[JobKind] = JobKind.TRANSFER
    target: str
    sources: tuple[str, ...]
    candidate_kind: str
    features: FeatureKeys
    labels: dict[str, str] = Field(description="split -> the target's ground-truth artifact")


class TransferGroupParams(JobParams):
    """Several first-order transfers of one source (or one target), trained together."""

    kind: ClassVar[JobKind] = JobKind.TRANSFER_GROUP
    by: Literal["source", "target", "all"]
    group: str
    members: list[TransferParams]


class TransferHalvingParams(JobParams):
    """Every first-order transfer, each target's candidates ranked by successive halving on
    ``budget`` of full training's compute (eliminated candidates keep their last losses)."""

    kind: ClassVar[JobKind] = JobKind.TRANSFER_HALVING
    budget: float
    members: list[TransferParams]


class BaselineParams(TrainingParams):
    """The ``pixels`` baseline of one target: a network from the image alone."""

    kind: ClassVar[JobKind] = JobKind.BASELINE
    target: str
    data: dict[str, SampleKeys] = Field(description="split -> sample key -> data artifact")


class EvaluateParams(JobParams):
    """The ``self`` candidate: a task network's per-test-image losses and a few predictions."""

    kind: ClassVar[JobKind] = JobKind.EVALUATE
    task: str
    net: str
    data: SampleKeys
    model: ModelConfig
    output: str
    preview: str
    n_preview: Int


class Candidate(FrozenModel):
    """One candidate of a target's tournament and where its per-test-image losses are."""

    sources: tuple[str, ...]
    kind: str
    losses: str


class PlanParams(TrainingParams):
    """Choose one target's higher-order source sets from its first-order ranking (``model``,
    ``train`` and ``seed`` are those of the transfers it plans; ``output`` is the plan)."""

    kind: ClassVar[JobKind] = JobKind.PLAN_HIGHER_ORDER
    target: str
    first_order: list[Candidate]
    beam: Int
    max_order: Int
    feature_keys: FeatureKeys
    label_keys: dict[str, str]


class FinalizeOutputs(FrozenModel):
    """Where the results of an experiment go."""

    table: str
    taxonomy: str
    summary: str = Field(description="per-target AHP details")
    losses: dict[str, str] = Field(default_factory=dict, description="target -> its candidates' stacked losses")


class ProxyOutputs(FrozenModel):
    """Where the results of a proxy-estimated experiment go."""

    table: str
    taxonomy: str
    proxies: str = Field(description="every candidate's proxy score (CSV)")


class FinalizeParams(JobParams):
    """AHP per target, the transfer table and the taxonomy at the spec's budget."""

    kind: ClassVar[JobKind] = JobKind.FINALIZE
    targets: list[str]
    roles: dict[str, str]
    candidates: dict[str, list[Candidate]]
    pixels: dict[str, str]
    plans: dict[str, str]
    previews: dict[str, str]
    budget: float
    max_order: Int
    bootstrap: Int
    seed: Int
    model: ModelConfig
    transfer_train: TrainSettings
    outputs: FinalizeOutputs


class ProxyFinalizeParams(JobParams):
    """The table and taxonomy from a training-free proxy of every candidate (no transfer trained)."""

    kind: ClassVar[JobKind] = JobKind.PROXY_FINALIZE
    method: str
    transfers: list[TransferParams]
    roles: dict[str, str]
    targets: list[str]
    budget: float
    max_order: Int
    beam: Int
    seed: Int
    outputs: ProxyOutputs


#: The parameter model of every kind.
PARAMS: dict[JobKind, type[JobParams]] = {cls.kind: cls for cls in (
    RenderParams, TrainParams, RandomEncoderParams, FeaturesParams, TransferParams, TransferGroupParams,
    TransferHalvingParams, BaselineParams, EvaluateParams, PlanParams, FinalizeParams, ProxyFinalizeParams)}
#: Kinds whose jobs produce the experiment's results.
FINAL_KINDS: frozenset[JobKind] = frozenset({JobKind.FINALIZE, JobKind.PROXY_FINALIZE})

P = TypeVar("P", bound=JobParams)


def job_kind(value: str) -> JobKind:
    """``value`` as a :class:`JobKind`, or InvalidInputError listing the kinds."""
    try:
        return JobKind(value)
    except ValueError:
        raise InvalidInputError(f"unknown job kind {value!r}; known: {', '.join(k.value for k in JobKind)}") from None


@dataclass(frozen=True)
class Job:
    """One unit of work: reads ``inputs``, writes ``outputs`` (artifact keys), nothing else."""

    id: str
    kind: JobKind
    stage: str
    queue: Queue
    params: JobParams
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    def typed(self, cls: type[P]) -> P:
        """``params`` as ``cls`` (the model of this job's kind)."""
        if not isinstance(self.params, cls):
            raise InvalidInputError(f"job {self.id} is a {self.kind} job, not a {cls.kind} job")
        return self.params

    def to_dict(self) -> dict[str, Any]:
        """The job as JSON (what a Celery message and the run book carry)."""
        return {"id": self.id, "kind": self.kind.value, "stage": self.stage, "queue": self.queue,
                "params": self.params.model_dump(mode="json"), "inputs": list(self.inputs),
                "outputs": list(self.outputs)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        """Inverse of :meth:`to_dict`; malformed jobs and params raise InvalidInputError."""
        try:
            kind = job_kind(str(data["kind"]))
            model = PARAMS[kind]
            try:
                params = model.model_validate(data["params"])
            except ValidationError as exc:
                raise InvalidInputError(f"malformed {kind} job params: {format_validation_error(exc, model)}") from None
            return cls(id=str(data["id"]), kind=kind, stage=str(data["stage"]), queue=data["queue"],
                       params=params, inputs=tuple(data["inputs"]), outputs=tuple(data["outputs"]))
        except (KeyError, TypeError) as exc:
            raise InvalidInputError(f"malformed job description: {exc}") from None


def make_job(stage: str, queue: Queue, params: JobParams, inputs: Any, outputs: Any) -> Job:
    """A job of ``params``'s kind; its id derives from the kind and the outputs."""
    outs = tuple(outputs)
    if not outs:
        raise InvalidInputError("a job must produce something")
    kind = params.kind
    job_id = f"{kind.value}-{digest({'kind': kind.value, 'outputs': sorted(outs)}, length=16)}"
    return Job(id=job_id, kind=kind, stage=stage, queue=queue, params=params, inputs=tuple(dict.fromkeys(inputs)),
               outputs=outs)
