"""One row of the transfer table: a candidate of a target's AHP tournament, and its checks.

The columns of the long format (as in the published Taskonomy files,
``taskonomy/data/published/*.csv``):

========================  =====================================================================
column                    meaning
========================  =====================================================================
``target``                the task the candidate is read out for
``sources``               ``|``-joined source tasks, in key order
``n_sources``             number of sources (the transfer's order)
``kind``                  one of :data:`KINDS`
``raw_key``               the authors' key ``src1__src2__target``
``affinity_ahp``          AHP affinity (sums to 1 over the target's tournament); empty = missing
``winrate_vs_pixels_gain``  gain: win rate against the from-scratch ``pixels`` net
``winrate_vs_task_quality`` quality: win rate against the fully supervised ``self`` net
``affinity_low/high``     optional bootstrap interval of the affinity
========================  =====================================================================

A *missing* value is ``None``: the published 16k set lacks the affinity and quality of four
transfers, and the ``pixels`` baseline has no affinity. An explicit NaN is an error naming the row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from taskonomy.errors import InvalidInputError
from taskonomy.tasks import KINDS, PIXELS, RANDOM, SELF, TRANSFER_KINDS

#: Column order of the long format.
COLUMNS: tuple[str, ...] = (
    "target", "sources", "n_sources", "kind", "raw_key",
    "affinity_ahp", "winrate_vs_pixels_gain", "winrate_vs_task_quality",
)
OPTIONAL_COLUMNS: tuple[str, ...] = ("affinity_low", "affinity_high")


@dataclass(frozen=True)
class TransferRow:
    """One candidate of a target's tournament.

    ``affinity``, ``gain`` and ``quality`` are fractions in [0, 1], or ``None`` where the value
    was not measured.
    """

    target: str
    sources: tuple[str, ...]
    kind: str
    affinity: float | None
    gain: float | None
    quality: float | None
    affinity_low: float | None = None
    affinity_high: float | None = None

    @property
    def raw_key(self) -> str:
        """The authors' key: ``src1__src2__target``."""
        return "__".join((*self.sources, self.target))

    @property
    def order(self) -> int:
        return len(self.sources)

    @property
    def is_transfer(self) -> bool:
        """Whether this row is a transfer edge of the taxonomy (first/higher order or random)."""
        return self.kind in TRANSFER_KINDS

    def value(self, objective: str) -> float | None:
        """The measured value for ``objective`` (``affinity`` | ``gain`` | ``quality``)."""
        if objective == "affinity":
            return self.affinity
        if objective == "gain":
            return self.gain
        if objective == "quality":
            return self.quality
        raise InvalidInputError(f"objective: must be one of affinity, gain, quality; got {objective!r}")

    def to_record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "target": self.target, "sources": "|".join(self.sources), "n_sources": len(self.sources),
            "kind": self.kind, "raw_key": self.raw_key, "affinity_ahp": self.affinity,
            "winrate_vs_pixels_gain": self.gain, "winrate_vs_task_quality": self.quality,
        }
        if self.affinity_low is not None or self.affinity_high is not None:
            rec["affinity_low"] = self.affinity_low
            rec["affinity_high"] = self.affinity_high
        return rec


def where(i: int, row: TransferRow | None = None, key: str | None = None) -> str:
    name = key if key is not None else (row.raw_key if row is not None else "?")
    return f"row {i + 1} ({name})"


def check_row(i: int, row: TransferRow) -> None:
    at = where(i, row)
    if not isinstance(row.target, str) or not row.target:
        raise InvalidInputError(f"{at}: target must be a non-empty string")
    if row.kind not in KINDS:
        raise InvalidInputError(f"{at}: unknown kind {row.kind!r}; allowed: {', '.join(KINDS)}")
    if not row.sources or any(not isinstance(s, str) or not s for s in row.sources):
        raise InvalidInputError(f"{at}: sources must be a non-empty list of task names")
    if len(set(row.sources)) != len(row.sources):
        raise InvalidInputError(f"{at}: sources repeat a task: {'|'.join(row.sources)}")
    expected = {
        "self_full_supervision": (SELF,), "own_encoder_small_data": (row.target,),
        "random_encoder": (RANDOM,), "pixels_scratch_baseline": (PIXELS,),
    }.get(row.kind)
    if expected is not None and row.sources != expected:
        raise InvalidInputError(f"{at}: kind {row.kind} needs sources {'|'.join(expected)}, "
                                f"got {'|'.join(row.sources)}")
    if row.kind == "first_order" and len(row.sources) != 1:
        raise InvalidInputError(f"{at}: kind first_order needs exactly 1 source, got {len(row.sources)}")
    if row.kind == "higher_order" and len(row.sources) < 2:
        raise InvalidInputError(f"{at}: kind higher_order needs at least 2 sources, got {len(row.sources)}")
    if row.kind in TRANSFER_KINDS and any(s in (SELF, PIXELS) for s in row.sources):
        raise InvalidInputError(f"{at}: 'self' and 'pixels' are baselines, not sources of a transfer")
    for name in ("affinity", "gain", "quality", "affinity_low", "affinity_high"):
        v = getattr(row, name)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise InvalidInputError(f"{at}: {name} must be a number, got {v!r}")
        if math.isnan(v):
            raise InvalidInputError(f"{at}: {name} is NaN (leave the cell empty for a missing value)")
        if not 0.0 <= v <= 1.0:
            what = "a win rate" if name in ("gain", "quality") else "an affinity"
            raise InvalidInputError(f"{at}: {name} = {v!r} is outside [0, 1] ({what})")
    lo, hi = row.affinity_low, row.affinity_high
    if (lo is None) != (hi is None):
        raise InvalidInputError(f"{at}: give both affinity_low and affinity_high, or neither")
    if lo is not None and hi is not None:
        if lo > hi:
            raise InvalidInputError(f"{at}: affinity_low {lo} > affinity_high {hi}")
        if row.affinity is not None and not lo - 1e-12 <= row.affinity <= hi + 1e-12:
            raise InvalidInputError(f"{at}: affinity {row.affinity} outside [affinity_low, affinity_high] "
                                    f"= [{lo}, {hi}]")


__all__ = [
    "COLUMNS", "KINDS", "OPTIONAL_COLUMNS", "PIXELS", "RANDOM", "SELF", "TRANSFER_KINDS", "TransferRow", "check_row",
    "where",
]
