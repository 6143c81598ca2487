"""Task specifications and the registry of the 26 built-in tasks (plus plugins).

>>> from taskonomy.tasks import get_task
>>> get_task("rgb2sfnorm").name
'normal'

Where things live (other packages import all of these from ``taskonomy.tasks``, never from the
private modules):

- ``_spec``: :class:`TaskSpec` and :class:`OutputSpec`, the output kinds and task families;
- ``_constants``: the label vocabularies and sizes the world, the losses and the tasks share
  (object categories and their shapes and patterns, fine object classes, semantic classes and
  their frequencies, room types, jigsaw permutations, embedding, layout, vanishing and pose sizes);
- ``_candidates``: the pseudo-sources (``SELF``, ``PIXELS``, ``RANDOM``) and candidate kinds;
- ``_builtin``: the 26 built-in tasks; ``_registry``: :class:`TaskRegistry` and its plugins.
"""

from __future__ import annotations

from taskonomy.tasks._builtin import BUILTIN_TASKS, IMAGE_KEYS
from taskonomy.tasks._candidates import KINDS, PIXELS, RANDOM, SELF, TRANSFER_KINDS, candidate_kind
from taskonomy.tasks._constants import (
    CATEGORY_PATTERNS,
    CATEGORY_SHAPES,
    EMBEDDING_DIM,
    FINE_OBJECT_CLASSES,
    N_JIGSAW_PERMUTATIONS,
    OBJECT_CATEGORIES,
    POSE_DIM,
    ROOM_LAYOUT_DIM,
    ROOM_TYPES,
    SEMANTIC_CLASSES,
    SEMANTIC_FREQUENCIES,
    SEMANTIC_UNCERTAIN,
    VANISHING_DIM,
    fine_object_class,
    rebalance_weights,
)
from taskonomy.tasks._registry import ENTRY_POINT_GROUP, TaskRegistry
from taskonomy.tasks._spec import DENSE_KINDS, FAMILIES, OutputSpec, TaskSpec

__all__ = [
    "BUILTIN_TASKS", "DENSE_KINDS", "EMBEDDING_DIM", "ENTRY_POINT_GROUP", "FAMILIES", "IMAGE_KEYS",
    "FINE_OBJECT_CLASSES", "N_JIGSAW_PERMUTATIONS",
    "OBJECT_CATEGORIES", "POSE_DIM", "ROOM_LAYOUT_DIM", "ROOM_TYPES", "SEMANTIC_CLASSES", "SEMANTIC_FREQUENCIES",
    "SEMANTIC_UNCERTAIN", "VANISHING_DIM", "rebalance_weights",
    "CATEGORY_PATTERNS", "CATEGORY_SHAPES", "fine_object_class",
    "KINDS", "PIXELS", "RANDOM", "SELF", "TRANSFER_KINDS", "candidate_kind",
    "OutputSpec", "TaskRegistry", "TaskSpec", "get_task", "registry", "task_names",
]

_REGISTRY: TaskRegistry | None = None


def registry() -> TaskRegistry:
    """The process-wide registry: the built-in tasks, then plugins (loaded on first use)."""
    global _REGISTRY
    if _REGISTRY is None:
        reg = TaskRegistry()
        for spec in BUILTIN_TASKS:
            reg.register(spec)
        reg.load_entry_points()
        _REGISTRY = reg
    return _REGISTRY


def get_task(name: str) -> TaskSpec:
    """Look up a task by our name or the paper alias; unknown names raise NotFoundError."""
    return registry().get(name)


def task_names() -> list[str]:
    return registry().names()
