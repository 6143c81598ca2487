"""Typed task specifications.

A :class:`TaskSpec` is the single description of a vision task that every stage reads: the
world renders the sample keys it names, the networks build the decoder its :class:`OutputSpec`
asks for, training uses its losses, and affinity compares candidates with its per-image test
loss. Specs are pure data: no torch, no numpy arrays.

Sample contract
---------------
A *sample* is a ``dict[str, numpy.ndarray]``. Image keys hold float32 arrays of shape
``(3, H, W)`` with values in [0, 1]. ``TaskSpec.inputs`` lists the image keys the task reads
(one for single-view tasks, two or three for the Siamese multi-view tasks); ``TaskSpec.target``
names the key holding the ground truth, whose shape and dtype follow ``TaskSpec.output``:

===============  ======================  ==========  =========================================
output kind      target shape            dtype       decoder
===============  ======================  ==========  =========================================
``pixels``       ``(C, H, W)``           float32     dense regression map
``labels``       ``(H, W)``              int64       dense classification, ``C`` classes
                                                     (``-1``: uncertain, out of the loss)
``embedding``    ``(H, W)``              int64       dense metric embedding of ``C`` dims;
                                                     target holds segment ids (any integers)
``vector``       ``(C,)``                float32     global regression
``class``        ``()``                  int64       global classification, ``C`` classes
``distribution`` ``(C,)``                float32     global soft classification (sums to 1)
``binary``       ``(1,)``                float32     global binary decision (0 or 1)
``none``         --                      --          no target (the ``random`` encoder)
===============  ======================  ==========  =========================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

OutputKind = Literal["pixels", "labels", "embedding", "vector", "class", "distribution", "binary", "none"]
LossName = Literal["l1", "l2", "cross_entropy", "rebalanced_cross_entropy", "soft_cross_entropy", "bce",
                   "metric_embedding", "none"]

#: The paper's four task families (its task-similarity tree): 3D, 2D, low-dimensional geometric, semantic.
FAMILIES: tuple[str, ...] = ("3d", "2d", "geometric", "semantic")
Family = Literal["3d", "2d", "geometric", "semantic", ""]

OUTPUT_KINDS: tuple[str, ...] = ("pixels", "labels", "embedding", "vector", "class", "distribution", "binary", "none")
LOSS_NAMES: tuple[str, ...] = ("l1", "l2", "cross_entropy", "rebalanced_cross_entropy", "soft_cross_entropy", "bce",
                               "metric_embedding", "none")
DENSE_KINDS: frozenset[str] = frozenset({"pixels", "labels", "embedding"})


@dataclass(frozen=True)
class OutputSpec:
    """What a task predicts: the kind of output and its channel / class / dimension count."""

    kind: OutputKind
    channels: int = 0

    @property
    def dense(self) -> bool:
        """True for per-pixel outputs (decoded by an upsampling decoder)."""
        return self.kind in DENSE_KINDS

    def target_shape(self, size: int) -> tuple[int, ...]:
        """Shape of one sample's target array at image side ``size``."""
        if self.kind == "pixels":
            return (self.channels, size, size)
        if self.kind in ("labels", "embedding"):
            return (size, size)
        if self.kind in ("vector", "distribution"):
            return (self.channels,)
        if self.kind == "class":
            return ()
        if self.kind == "binary":
            return (1,)
        return ()

    def target_dtype(self) -> str:
        """numpy dtype name of the target array."""
        return "int64" if self.kind in ("labels", "embedding", "class") else "float32"


@dataclass(frozen=True)
class TaskSpec:
    """One vision task.

    Attributes:
        name: our name (the Taskonomy dataset's domain name where one exists).
        alias: the paper's code name, used in the published transfer tables.
        title: human-readable display name.
        inputs: sample keys of the image(s) the task's encoder reads; more than one means a
            Siamese multi-view task (the shared encoder runs on each view).
        target: sample key of the ground truth (``""`` for tasks without one).
        output: what the decoder predicts.
        loss: training loss name.
        test_loss: per-image test loss name (win rates compare candidates image by image).
        can_be_target: whether transfers *into* this task are measured (source-only otherwise).
        description: one sentence on what the ground truth is.
        family: the group of the paper's task-similarity tree the task belongs to (one of
            :data:`FAMILIES`; ``""`` for none, e.g. the ``random`` control or a plugin task).
    """

    name: str
    alias: str
    title: str
    inputs: tuple[str, ...]
    target: str
    output: OutputSpec
    loss: LossName
    test_loss: LossName
    can_be_target: bool = True
    trainable: bool = True
    description: str = ""
    tags: tuple[str, ...] = field(default=())
    family: Family = ""

    @property
    def multiview(self) -> bool:
        return len(self.inputs) > 1

    def to_dict(self) -> dict[str, object]:
        """JSON-ready description (used by ``taskonomy tasks --json`` and ``GET /v1/tasks``)."""
        return {
            "name": self.name,
            "alias": self.alias,
            "title": self.title,
            "input": "+".join(self.inputs) if self.inputs else "",
            "inputs": list(self.inputs),
            "target": self.target,
            "output": self.output.kind,
            "channels": self.output.channels,
            "loss": self.loss,
            "test_loss": self.test_loss,
            "can_be_target": self.can_be_target,
            "trainable": self.trainable,
            "description": self.description,
            "family": self.family,
        }
