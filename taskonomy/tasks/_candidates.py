"""The candidates of a target's tournament: the pseudo-sources that are not tasks, and the kinds.

Defined here, beside the tasks, because the experiment contract (the job graph), the transfer
table (:mod:`taskonomy.affinity`), the report and the model bank all name them.
"""

from __future__ import annotations

#: The fully supervised network of the target itself (the quality reference).
SELF = "self"
#: The network trained from the image alone on the transfer split (the gain reference).
PIXELS = "pixels"
#: The frozen randomly initialised encoder (a source every target gets, free in the taxonomy).
RANDOM = "random"

#: Kinds of a target's candidates, as in the published tables.
KINDS: tuple[str, ...] = (
    "first_order",
    "higher_order",
    "self_full_supervision",
    "own_encoder_small_data",
    "random_encoder",
    "pixels_scratch_baseline",
)
#: Kinds that are transfer edges of the taxonomy (every source must be a root).
TRANSFER_KINDS: tuple[str, ...] = ("first_order", "higher_order", "random_encoder")


def candidate_kind(target: str, sources: tuple[str, ...]) -> str:
    """The table's ``kind`` of a transfer ``sources -> target``."""
    if sources == (target,):
        return "own_encoder_small_data"
    if sources == (RANDOM,):
        return "random_encoder"
    return "first_order" if len(sources) == 1 else "higher_order"
