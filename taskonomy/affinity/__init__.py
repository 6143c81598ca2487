"""Transfer tables, win rates, AHP affinities, gain and quality, bootstrap intervals.

>>> from taskonomy.affinity import load_table
>>> len(load_table("paper-16k").targets())
22
"""

from __future__ import annotations

from taskonomy.affinity._ahp import ahp, ahp_with_consistency, consistency_ratio, reciprocal_matrix, win_rate_matrix
from taskonomy.affinity._builtin import BUILTIN_TABLES, load_table, published_file
from taskonomy.affinity._table import (
    COLUMNS,
    FORMATS,
    KINDS,
    TRANSFER_KINDS,
    TransferRow,
    TransferTable,
    resolve_task_name,
)
from taskonomy.affinity._target import TargetAffinity, target_affinity
from taskonomy.affinity.proxies import (
    PROXY_METHODS,
    ProxyCache,
    Spectrum,
    h_score,
    logme,
    proxy_affinities,
    proxy_scores,
    transfer_proxy,
)

__all__ = [
    "PROXY_METHODS", "ProxyCache", "Spectrum", "h_score", "logme", "proxy_affinities", "proxy_scores", "transfer_proxy",
    "BUILTIN_TABLES", "COLUMNS", "FORMATS", "KINDS", "TRANSFER_KINDS", "TargetAffinity", "TransferRow",
    "TransferTable", "ahp", "ahp_with_consistency", "consistency_ratio", "load_table", "published_file",
    "reciprocal_matrix", "resolve_task_name", "target_affinity", "win_rate_matrix",
]
