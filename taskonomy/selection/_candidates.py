"""Higher-order transfer candidates, chosen as the paper did.

Zamir et al. (CVPR 2018, §3.3 and the released candidate lists): for each target, rank the
first-order sources (the paper ranked them by affinity; the pipeline ranks them by their mean
win rate over the test images, :func:`taskonomy.execution.handlers.plan.rank_first_order`, and the
proxy-only run by proxy score); order 2 and 3 candidates are all pairs and triples of the top 5,
order 4 candidates all 4-subsets of the top 6, and an order-k candidate for k >= 5 is the top-k
set itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

from taskonomy.errors import InvalidInputError

#: order → size of the top of the ranking whose subsets are candidates (orders >= 5: the prefix).
BEAM: dict[int, int] = {2: 5, 3: 5, 4: 6}


def higher_order_candidates(ranked_sources: Sequence[str], *, max_order: int = 4) -> list[tuple[str, ...]]:
    """Source sets of order 2..max_order for one target, given its first-order ranking (best first).

    Each set keeps the ranking's order (best source first). Orders with too few ranked sources
    yield what the ranking allows (nothing for an order above its length).
    """
    if isinstance(ranked_sources, str) or not all(isinstance(s, str) and s for s in ranked_sources):
        raise InvalidInputError("ranked_sources: must be a list of task names, best first")
    if len(set(ranked_sources)) != len(ranked_sources):
        raise InvalidInputError("ranked_sources: a task is ranked twice")
    if isinstance(max_order, bool) or not isinstance(max_order, int) or max_order < 1:
        raise InvalidInputError(f"max_order: must be an integer >= 1, got {max_order!r}")
    ranked = list(ranked_sources)
    out: list[tuple[str, ...]] = []
    for k in range(2, max_order + 1):
        if k in BEAM:
            out.extend(combinations(ranked[: BEAM[k]], k))
        elif k <= len(ranked):
            out.append(tuple(ranked[:k]))
    return out
