"""Invalid experiment specs every entry point must refuse, the same way, before any work.

Each case: an id, the mapping (a complete spec but for the mistake), and the dotted paths of
the fields the refusal must name (``""``: a check of the whole spec, followed by what its message
must mention). Entry points: ``ExperimentSpec.model_validate`` (the gateway,
``taskonomy submit``), ``ExperimentSpec.parse`` / ``from_file`` (the workers' spec loading, the
model bank), ``taskonomy run --config`` and ``taskonomy spec --config`` (exit code 2, one line).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from taskonomy.contract import ExperimentSpec
from taskonomy.errors import format_validation_error

GOOD: dict[str, Any] = {"tasks": ["normal", "depth_zbuffer"], "splits": {"train": 8, "transfer": 4, "test": 4}}

BAD_SPECS: list[tuple[str, dict[str, Any], list[str]]] = [
    ("model-keys", {**GOOD, "model": {"width": "huge", "nonsense": 1}}, ["model.width", "model.nonsense"]),
    ("transfer-block", {**GOOD, "transfer": {"lr": 10, "weight_decay": 50}},
     ["transfer.lr", "transfer.weight_decay"]),
    ("train-block", {**GOOD, "train": {"epochs": 0, "precision": "fp16"}}, ["train.epochs", "train.precision"]),
    ("world-options", {**GOOD, "dataset": {"kind": "world", "size": 8, "options": {"fov_deg": 500, "bogus": 1}}},
     ["dataset.size", "dataset.options.fov_deg", "dataset.options.bogus"]),
    ("world-objects", {**GOOD, "dataset": {"kind": "world", "options": {"min_objects": 5, "max_objects": 3}}},
     ["dataset.options"]),
    ("folder-options", {**GOOD, "dataset": {"kind": "folder", "root": "/data", "options": {"buildings": 3,
                                                                                            "depth": 2}}},
     ["dataset.options.buildings", "dataset.options.depth"]),
    ("splits", {**GOOD, "splits": {"train": 0, "transfer": 4, "test": 1}}, ["splits.train", "splits.test"]),
    ("stride", {**GOOD, "model": {"stride": 3}}, ["model.stride"]),
    # a check across blocks names both fields in its message (its loc is the whole spec)
    ("size-vs-stride", {**GOOD, "dataset": {"kind": "world", "size": 40}, "model": {"stride": 16}},
     ["", "dataset.size 40", "model.stride 16"]),
    ("unknown-top-level", {**GOOD, "modle": {"width": 8}}, ["modle"]),
    ("unknown-task", {**GOOD, "tasks": ["normals"]}, ["tasks"]),
]


def expected_problems(body: dict[str, Any]) -> str:
    """The one-line description of what is wrong with ``body`` that every entry point shows."""
    try:
        ExperimentSpec.model_validate(body)
    except ValidationError as exc:
        return format_validation_error(exc, ExperimentSpec)
    raise AssertionError("the spec is valid")
