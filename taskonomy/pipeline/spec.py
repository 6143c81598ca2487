"""The experiment specification: what to compute, validated before any work starts.

An :class:`ExperimentSpec` names a dataset (the built-in world or a folder in the Taskonomy
layout), the tasks with their roles, split sizes, the network and training settings, the
highest transfer order and the beam that picks higher-order candidates. It is a pydantic v2
model and imports no torch, so every entry point (``taskonomy run``, the gateway, ``taskonomy
submit``, the workers) validates a spec with this one class, and its JSON schema
(``taskonomy spec --schema``, the gateway's ``/openapi.json``) shows every bound. Its blocks are
typed: ``model`` is a :class:`~taskonomy.config.ModelConfig`, ``train`` and ``transfer`` are
:class:`~taskonomy.config.TrainSettings`, ``dataset.options`` are the world's
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
train as one stack of grouped kernels). Grouped jobs use :mod:`taskonomy.training.fused`: the
same results within float rounding. It is left out of :meth:`ExperimentSpec.content_key`.

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
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from taskonomy.config import ConfigModel, FrozenModel, Int, ModelConfig, TrainSettings
from taskonomy.errors import InvalidInputError, NotFoundError, format_validation_error
from taskonomy.pipeline.keys import PIPELINE_VERSION, digest
from taskonomy.tasks import BUILTIN_TASKS, registry
from taskonomy.world import WorldSpec
from taskonomy.world._spec import _RANGES as WORLD_RANGES

Role = Literal["target", "source_only", "target_only"]
ROLES: tuple[str, ...] = ("target", "source_only", "target_only")
PRESETS: tuple[str, ...] = ("quick", "standard", "paper")

__all__ = [
    "PRESETS", "QUICK_TASKS", "ROLES", "TRANSFER_JOBS", "DatasetSpec", "ExperimentSpec", "FolderDataset",
    "FolderOptions", "SplitSpec", "TaskEntry", "TrainSpec", "WorldDataset", "WorldOptions",
    "format_validation_error", "paper", "preset", "quick", "standard",
]


_Model = FrozenModel


#: The spec's name of the training blocks (``train`` and ``transfer``).
TrainSpec = TrainSettings
_WORLD_DEFAULTS = WorldSpec()


def _world_field(name: str, description: str) -> Any:
    lo, hi = WORLD_RANGES[name]
    return Field(default=getattr(_WORLD_DEFAULTS, name), ge=lo, le=hi, description=description)


class WorldOptions(ConfigModel):
    """The built-in world's knobs besides seed and size (:class:`~taskonomy.world.WorldSpec`'s
    fields, defaults and bounds)."""

    config_name: ClassVar[str] = "world options"

    min_objects: Int = _world_field("min_objects", "fewest objects per room")
    max_objects: Int = _world_field("max_objects", "most objects per room")
    fov_deg: float = _world_field("fov_deg", "horizontal field of view of the main, egomotion and fixated views")
    patch_fov_deg: float = _world_field("patch_fov_deg", "field of view of the point-matching patch views")
    noise_sigma: float = _world_field("noise_sigma", "standard deviation of the Gaussian noise of rgb_noisy")
    ambient: float = _world_field("ambient", "ambient share of the lighting")


class FolderOptions(ConfigModel):
    """Options of :class:`~taskonomy.data.TaskonomyFolderDataset`."""

    config_name: ClassVar[str] = "folder options"

    buildings: Annotated[tuple[str, ...] | None, Field(description="only these buildings (default: all)")] = None


class WorldDataset(_Model):
    """The built-in procedural world: every sample a pure function of (seed, index)."""

    kind: Literal["world"] = "world"
    seed: Int = Field(default=0, ge=WORLD_RANGES["seed"][0], le=WORLD_RANGES["seed"][1])
    size: Int = Field(default=32, ge=WORLD_RANGES["size"][0], le=WORLD_RANGES["size"][1],
                  description="image side in pixels (a multiple of 8 and of model.stride)")
    options: WorldOptions = Field(default_factory=WorldOptions, description="more WorldSpec fields")

    @field_validator("size")
    @classmethod
    def _multiple_of_8(cls, v: int) -> int:
        if v % 8:
            raise ValueError(f"size must be a multiple of 8 (the encoder downsamples 8x), got {v}")
        return v

    @model_validator(mode="after")
    def _buildable(self) -> WorldDataset:
        self.world()  # what WorldSpec checks across fields (min_objects <= max_objects)
        return self

    def world(self) -> WorldSpec:
        """The :class:`~taskonomy.world.WorldSpec` this dataset renders."""
        return WorldSpec.from_dict({"seed": self.seed, "size": self.size, **self.options.model_dump()})

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
TRANSFER_JOBS: tuple[str, ...] = ("per-transfer", "per-source", "per-target")


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
    transfer_jobs: Annotated[Literal["per-transfer", "per-source", "per-target"], Field(  # = TRANSFER_JOBS
        description="per-transfer: one job per first-order transfer; per-source / per-target: one job per source / "
                    "target trains its transfers together (same results within float rounding)")] = "per-transfer"

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
        stride = self.model.stride
        if self.dataset.size % stride:
            raise ValueError(f"dataset.size {self.dataset.size} must be a multiple of the encoder stride "
                             f"(model.stride {stride})")
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


# -- presets -----------------------------------------------------------------------------------

#: The quick preset's tasks: the physics in miniature — appearance (autoencoding, denoising, 2D
#: edges), geometry (depths, normals, reshading, curvature) and semantics.
QUICK_TASKS: tuple[str, ...] = (
    "autoencoding", "denoising", "edge_texture", "depth_zbuffer", "depth_euclidean", "normal", "reshading",
    "principal_curvature", "segment_semantic",
)
#: The CPU presets' network: a 32 px image encoded into an 8 x 8 x 8 representation (stride 4). At
#: stride 8 (4 x 4 x 8) the quick preset agreed with the paper at a mean Spearman of 0.23; at 8 x 8 x 8,
#: 0.34 at 32 px and 0.35 at 64 px (three times the cost); see the README's validity section.
CPU_MODEL = ModelConfig(width=16, rep_channels=8, blocks=1, stride=4)


def quick() -> ExperimentSpec:
    """9 tasks at 32x32, first order: a few minutes on 2 CPU cores, rendering and report included.

    The task networks are trained as the paper trains them, on far more images than a transfer
    sees: 8192 against 256 (32 times; the paper: 120k against 1k), for 3 epochs — more distinct
    images, not more passes over few, is what made the measured taxonomy agree with the paper
    (``benchmarks/source_curve.py``). 1024 test images (512 before) steady the win rates of the rows
    that one source dominates: seed-to-seed Spearman 0.85 instead of 0.84, for 2% more CPU.
    Measured figures (time, agreement with the paper, stability across seeds) are in the README
    and ``benchmarks/results/validity-quick-cpu2.json`` (``benchmarks/validity.py``).
    """
    return ExperimentSpec(
        name="quick",
        dataset=WorldDataset(seed=0, size=32),
        tasks=[TaskEntry(name=t) for t in QUICK_TASKS],
        splits=SplitSpec(train=8192, transfer=256, test=1024),
        model=CPU_MODEL,
        train=TrainSpec(epochs=3, batch_size=64, lr=2e-3),
        transfer=TrainSpec(epochs=15, batch_size=32, lr=2e-3),
        max_order=1,
        beam=4,
        seed=0,
    )


def standard() -> ExperimentSpec:
    """All 26 tasks, orders 1 and 2 (pairs of each target's top-4 sources), at 32x32.

    25 task networks trained on 16384 images for 2 epochs (64 times the 256 images of a transfer;
    see :func:`quick`), the first-order transfers, then the planned second-order ones. Measured
    figures are in the README and ``benchmarks/results/validity-standard-cpu2.json``; its
    ``transfers.csv`` is ``benchmarks/results/standard-transfers.csv``.
    """
    entries = [TaskEntry(name=t.name, role="target" if t.can_be_target else "source_only") for t in registry()
               if t.name in {b.name for b in BUILTIN_TASKS}]
    return ExperimentSpec(
        name="standard",
        dataset=WorldDataset(seed=0, size=32),
        tasks=entries,
        splits=SplitSpec(train=16384, transfer=256, test=1024),
        model=CPU_MODEL,
        train=TrainSpec(epochs=2, batch_size=64, lr=2e-3),
        transfer=TrainSpec(epochs=15, batch_size=32, lr=2e-3),
        max_order=2,
        beam=4,
        seed=0,
    )


def paper() -> ExperimentSpec:
    """The paper's setting on the world: 256x256 images encoded into the paper's 16x16x8 representation
    (stride 16), 1k transfer split, orders up to 4 (a GPU cluster).

    Higher orders as the paper chose them: pairs and triples of each target's top-5 first-order
    sources, 4-subsets of its top 6. For the 16k setting, override ``splits.transfer: 16000``.
    """
    base = standard()
    return base.model_copy(update={
        "name": "paper",
        "dataset": WorldDataset(seed=0, size=256),
        "splits": SplitSpec(train=120_000, transfer=1_000, test=16_000),
        "model": ModelConfig(width=64, rep_channels=8, stride=16),
        "train": TrainSpec(epochs=30, batch_size=64, lr=1e-3),
        "transfer": TrainSpec(epochs=50, batch_size=64, lr=1e-3),
        "max_order": 4,
        "beam": 6,
    })


def preset(name: str) -> ExperimentSpec:
    """The named preset (quick, standard or paper)."""
    builders = {"quick": quick, "standard": standard, "paper": paper}
    if name not in builders:
        raise InvalidInputError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return builders[name]()
