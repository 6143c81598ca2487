"""The experiment specification: what to compute, validated before any work starts.

An :class:`ExperimentSpec` names a dataset (the built-in world or a folder in the Taskonomy
layout), the tasks with their roles, split sizes, the network and training settings, the
highest transfer order and the beam that picks higher-order candidates. It is a pydantic v2
model and imports no torch, so every entry point (``taskonomy run``, the gateway, ``taskonomy
submit``, the workers) validates a spec with this one class, and its JSON schema
(``taskonomy spec --schema``, the gateway's ``/openapi.json``) shows every bound. Its blocks are
typed: ``model`` is a :class:`~taskonomy.contract.config.ModelConfig`, ``train`` and ``transfer`` are
:class:`~taskonomy.contract.config.TrainSettings`, ``dataset.options`` are the world's
(:class:`WorldOptions`, bounds of :class:`~taskonomy.world.WorldSpec`) or the folder's
(:class:`FolderOptions`). Unknown keys are refused everywhere; ``model_validate`` raises pydantic's
``ValidationError`` (its ``loc`` names the field), :meth:`ExperimentSpec.parse` the same problems
as one :class:`~taskonomy.errors.InvalidInputError` line.

Roles (the semantics of the authors' taxonomy solver):

- ``target``: gets a fully supervised task network (usable as a source) and receives transfers;
- ``source_only``: gets a task network and serves as a source, receives no transfers;
- ``target_only``: a new task with few labels: no full supervision, it only receives transfers
  trained on the small transfer split (and must receive exactly one edge in the taxonomy).

``transfer_jobs`` says how the first-order transfers are scheduled, not what they compute:
``per-transfer`` (one job each: the finest grain for a cluster), ``per-source`` (one job per
source trains every transfer reading it together: one batch gather for all) or ``per-target``
(one job per target trains all its candidates together: one architecture, so on a GPU they
train as one stack of grouped kernels) or ``all`` (one job trains every first-order transfer in
one fused loop: the fastest on one machine). Grouped jobs use :mod:`taskonomy.training.fused`: the
same results within float rounding. It is left out of :meth:`ExperimentSpec.content_key`.

``affinity`` says what is measured (:class:`AffinitySpec`): every transfer trained (the paper's
way, the default), successive halving on a share of the compute, or a training-free proxy. The
local executor and the workers run every one of them: they are jobs of the graph.

Artifact keys hash the blocks *resolved*: every block is serialised with every field and its value,
defaults filled in (``model: {}`` and ``model`` with every default written out describe the same
networks and give the same keys; a changed default changes them), and a world dataset's identity
(:meth:`WorldDataset.identity`) adds the key of its :class:`~taskonomy.world.WorldSpec`, which
covers the renderer's ``WORLD_VERSION``: a renderer change re-renders and recomputes everything.
:meth:`ExperimentSpec.content_key` (the experiment id) hashes the same identity and the pipeline's
version, so a finished experiment is not served again from before such a change.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from taskonomy.contract.config import ConfigModel, FrozenModel, Int, ModelConfig, TrainSettings, stride_problem
from taskonomy.contract.keys import PIPELINE_VERSION, digest
from taskonomy.contract.world import WorldOptions, WorldSeed, WorldSize, WorldSpec
from taskonomy.errors import InvalidInputError, NotFoundError, format_validation_error
from taskonomy.tasks import registry

Role = Literal["target", "source_only", "target_only"]
ROLES: tuple[str, ...] = ("target", "source_only", "target_only")

__all__ = [
    "ESTIMATES", "PROXY_METHODS", "ROLES", "TRANSFER_JOBS", "AffinitySpec", "DatasetSpec", "ExperimentSpec",
    "FolderDataset", "FolderOptions", "SplitSpec",
    "TaskEntry", "TrainSpec", "WorldDataset", "check_display_text",
]


_Model = FrozenModel


#: The spec's name of the training blocks (``train`` and ``transfer``).
TrainSpec = TrainSettings


class FolderOptions(ConfigModel):
    """Options of :class:`~taskonomy.data.TaskonomyFolderDataset`."""

    config_name: ClassVar[str] = "folder options"

    buildings: Annotated[tuple[str, ...] | None, Field(description="only these buildings (default: all)")] = None


class WorldDataset(_Model):
    """The built-in procedural world: every sample a pure function of (seed, index)."""

    kind: Literal["world"] = "world"
    seed: WorldSeed = 0
    size: Annotated[WorldSize, Field(description="image side in pixels (a multiple of model.stride)")] = 32
    options: WorldOptions = Field(default_factory=WorldOptions, description="the world's other knobs")

    def world(self) -> WorldSpec:
        """The :class:`~taskonomy.world.WorldSpec` this dataset renders."""
        return WorldSpec(seed=self.seed, size=self.size, **self.options.model_dump())

    def identity(self) -> dict[str, Any]:
        """What decides the rendered data: every field (defaults filled in) and the world's key,
        which hashes every :class:`~taskonomy.world.WorldSpec` field and the renderer's version."""
        return {**self.model_dump(mode="json"), "world": self.world().key()}


class FolderDataset(_Model):
    """A dataset on disk in the Taskonomy folder layout (``<domain>/<building>/...png``)."""

    kind: Literal["folder"] = "folder"
    root: Annotated[str, Field(min_length=1)]
    size: Int = Field(default=64, ge=8, le=1024, description="image side in pixels (a multiple of model.stride)")
    options: FolderOptions = Field(default_factory=FolderOptions)

    def identity(self) -> dict[str, Any]:
        """What decides the loaded data: every field, defaults filled in (the folder's files are
        not hashed: a folder whose images change is another dataset only under another root)."""
        return self.model_dump(mode="json")


DatasetSpec = Annotated[WorldDataset | FolderDataset, Field(discriminator="kind")]


class TaskEntry(_Model):
    name: str
    role: Role = "target"


class SplitSpec(_Model):
    """Number of images in each split: ``train`` for task networks, ``transfer`` (small) for
    transfers and the pixels baseline, ``test`` for the per-image losses behind win rates."""

    train: Int = Field(ge=1)
    transfer: Int = Field(ge=1)
    test: Int = Field(ge=2)


#: How first-order transfers become jobs (see the module docstring).
TRANSFER_JOBS: tuple[str, ...] = ("per-transfer", "per-source", "per-target", "all")
#: How a candidate's transfer affinity is measured (:class:`AffinitySpec`).
ESTIMATES: tuple[str, ...] = ("trained", "halving", "proxy")
#: Training-free proxies of transfer performance (:mod:`taskonomy.affinity`).
PROXY_METHODS: tuple[str, ...] = ("logme", "hscore")
ProxyMethod = Literal["logme", "hscore"]


class AffinitySpec(ConfigModel):
    """How each candidate's transfer affinity is measured: ``trained`` (every transfer trained
    in full, the paper's way), ``halving`` (each target's first-order candidates ranked by
    successive halving on ``halving_budget`` of full training's compute; eliminated candidates
    keep their last losses) or ``proxy`` (no transfer trained: every candidate scored by a
    training-free proxy, ``proxy``, on the cached transfer-split features; the table's gain and
    quality are then empty). Only ``trained`` measures what the paper measured."""

    config_name: ClassVar[str] = "affinity"

    estimate: Annotated[Literal["trained", "halving", "proxy"], Field(  # = ESTIMATES
        description="trained | halving | proxy (see the block's description)")] = "trained"
    halving_budget: Annotated[float, Field(ge=0.01, le=1.0, description="share of full training's compute for "
                                                                        "estimate halving")] = 0.25
    proxy: Annotated[ProxyMethod, Field(description="the proxy of estimate proxy: logme or hscore")] = "logme"

    def transfer_estimate(self) -> dict[str, Any] | None:
        """What the first-order transfers' loss keys add (None: trained in full, the keys of old)."""
        return {"halving": self.halving_budget} if self.estimate == "halving" else None


def check_display_text(value: str) -> str:
    """``value`` if every character prints as itself: no control characters (NUL, newlines, escape
    sequences), no format characters (the bidirectional overrides and isolates that make "evil"
    display as "live", zero-width characters), no line or paragraph separators. Else ValueError
    naming the first one."""
    for i, ch in enumerate(value):
        category = unicodedata.category(ch)
        if category[0] == "C" or category in ("Zl", "Zp"):
            kind = "bidirectional-formatting" if unicodedata.bidirectional(ch) in _BIDI_CONTROLS else "control"
            raise ValueError(f"must not contain {kind} characters (U+{ord(ch):04X} at position {i}); use printable "
                             "text")
    return value


#: Bidirectional classes of the explicit embedding, override and isolate characters.
_BIDI_CONTROLS = frozenset({"LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"})


class ExperimentSpec(_Model):
    """Everything that determines an experiment's results (and so its artifact keys), and how
    its transfers are scheduled (``transfer_jobs``, which does not change them)."""

    name: Annotated[str, Field(min_length=1, max_length=100)] = "experiment"
    dataset: DatasetSpec = WorldDataset()
    tasks: list[TaskEntry]
    splits: SplitSpec
    model: ModelConfig = Field(default_factory=ModelConfig, description="architecture of every network")
    train: Annotated[TrainSpec, Field(description="task-specific networks")] = TrainSpec()
    transfer: Annotated[TrainSpec, Field(description="transfers and the pixels baseline")] = TrainSpec()
    max_order: Int = Field(default=1, ge=1, le=24, description="largest source set of a transfer")
    beam: Int = Field(default=4, ge=1, le=26, description="top-k first-order sources that higher orders combine")
    seed: Int = Field(default=0, ge=0)
    budget: Annotated[float, Field(gt=0, description="supervision budget of the taxonomy in taxonomy.json")] = 6.0
    bootstrap: Int = Field(default=0, ge=0, le=10_000, description="bootstrap resamples for affinity intervals")
    transfer_jobs: Annotated[Literal["per-transfer", "per-source", "per-target", "all"], Field(  # = TRANSFER_JOBS
        description="per-transfer: one job per first-order transfer; per-source / per-target: one job per source / "
                    "target trains its transfers together; all: one job trains every first-order transfer in one "
                    "fused loop (same results within float rounding)")] = "per-transfer"
    affinity: AffinitySpec = Field(default_factory=AffinitySpec, description="how transfer affinities are measured")

    @field_validator("name")
    @classmethod
    def _printable_name(cls, value: str) -> str:
        return check_display_text(value)

    @field_validator("tasks", mode="before")
    @classmethod
    def _coerce_tasks(cls, value: Any) -> Any:
        # Accept ["normal", "depth_zbuffer"], {"normal": "target", ...} or [{"name":..., "role":...}].
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, dict):
            value = [{"name": k, "role": v} for k, v in value.items()]
        if isinstance(value, list | tuple):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("tasks")
    @classmethod
    def _canonical_tasks(cls, entries: list[TaskEntry]) -> list[TaskEntry]:
        reg = registry()
        out: list[TaskEntry] = []
        seen: set[str] = set()
        for entry in entries:
            try:
                spec = reg.get(entry.name)
            except NotFoundError as exc:
                raise ValueError(str(exc)) from None
            if spec.name in seen:
                raise ValueError(f"task {spec.name!r} is listed twice")
            seen.add(spec.name)
            role = entry.role
            if not spec.can_be_target and role != "source_only":
                if role == "target_only" or "role" in entry.model_fields_set:
                    raise ValueError(f"task {spec.name!r} cannot be a target (it is source-only); "
                                     "give it role source_only")
                role = "source_only"
            out.append(TaskEntry(name=spec.name, role=role))
        if not out:
            raise ValueError("at least one task is needed")
        return out

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSpec:
        if not self.targets():
            raise ValueError("at least one task must be a target (role target or target_only)")
        if not self.sources():
            raise ValueError("at least one task must be a source (role target or source_only)")
        if self.max_order > 1 and self.beam < 2:
            raise ValueError("higher-order transfers (max_order > 1) need beam >= 2")
        problem = stride_problem(self.dataset.size, self.model.stride)
        if problem is not None:
            raise ValueError(f"dataset.size {self.dataset.size} {problem} (model.stride {self.model.stride})")
        return self

    # -- views -------------------------------------------------------------------------------
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]

    def role(self, task: str) -> str:
        for t in self.tasks:
            if t.name == task:
                return t.role
        raise NotFoundError(f"task {task!r} is not part of experiment {self.name!r}")

    def targets(self) -> list[str]:
        """Tasks that receive transfers (role target or target_only), in spec order."""
        return [t.name for t in self.tasks if t.role in ("target", "target_only")]

    def sources(self) -> list[str]:
        """Tasks whose frozen encoder serves as a transfer source (role target or source_only)."""
        return [t.name for t in self.tasks if t.role in ("target", "source_only")]

    def key_blocks(self) -> dict[str, Any]:
        """The blocks as the artifact keys hash them: every field of every block with its value
        (defaults filled in), the dataset as its :meth:`~WorldDataset.identity` (for the world,
        with the renderer's version)."""
        body = self.model_dump(mode="json")
        body["dataset"] = self.dataset.identity()
        return body

    def content_key(self) -> str:
        """A short hash of everything that determines the results (not the name, not ``transfer_jobs``):
        :meth:`key_blocks` and the pipeline's version."""
        body = self.key_blocks()
        body.pop("name", None)
        body.pop("transfer_jobs", None)
        return digest({**body, "pipeline_version": PIPELINE_VERSION})

    def with_tasks(self, tasks: list[str] | list[dict[str, str]] | list[TaskEntry]) -> ExperimentSpec:
        """A copy with another task list (validated)."""
        body = self.model_dump(mode="json")
        body["tasks"] = [t.model_dump() if isinstance(t, TaskEntry) else t for t in tasks]
        return ExperimentSpec.parse(body)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def parse(cls, data: Any, *, origin: str = "experiment spec") -> ExperimentSpec:
        """Validate a mapping; every problem becomes one InvalidInputError naming the field."""
        if not isinstance(data, dict):
            raise InvalidInputError(f"{origin}: expected a mapping of settings, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidInputError(f"{origin}: {format_validation_error(exc, cls)}") from None

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ExperimentSpec:
        """Read a YAML or JSON file. A ``preset:`` key starts from that preset and overrides it."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InvalidInputError(f"config file {str(p)!r} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"config file {str(p)!r} cannot be read: {exc}") from None
        try:
            if p.suffix.lower() == ".json":
                data = json.loads(text)
            else:
                data = yaml.safe_load(text)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InvalidInputError(f"config file {str(p)!r} is not valid YAML/JSON: {first}") from None
        if not isinstance(data, dict):
            raise InvalidInputError(f"config file {str(p)!r} must hold a mapping of settings")
        return cls.from_mapping(data, origin=f"config file {str(p)!r}")

    @classmethod
    def from_mapping(cls, data: dict[str, Any], *, origin: str = "experiment spec") -> ExperimentSpec:
        """Like :meth:`parse`, but a ``preset`` key fills every field the mapping leaves out."""
        data = dict(data)
        preset_name = data.pop("preset", None)
        if preset_name is not None:
            base = preset(str(preset_name)).model_dump(mode="json")
            for k, v in data.items():
                if isinstance(v, dict) and isinstance(base.get(k), dict) and k not in ("dataset",):
                    base[k] = {**base[k], **v}
                else:
                    base[k] = v
            data = base
        return cls.parse(data, origin=origin)


#: The presets' builders by name, registered by :mod:`taskonomy.contract.presets` (presets are
#: specs, so they are built after this module; the package imports both).
PRESET_BUILDERS: dict[str, Callable[[], ExperimentSpec]] = {}


def preset(name: str) -> ExperimentSpec:
    """The named preset (quick, standard or paper: :mod:`taskonomy.contract.presets`)."""
    if name not in PRESET_BUILDERS:
        raise InvalidInputError(f"unknown preset {name!r}; known: {', '.join(PRESET_BUILDERS)}")
    return PRESET_BUILDERS[name]()
