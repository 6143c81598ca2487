"""Transfer tables, win rates, AHP affinities, gain and quality, bootstrap intervals, proxies.

>>> from taskonomy.affinity import load_table
>>> len(load_table("paper-16k").targets())
22

Where things live:

- ``_rows``: one row of the transfer table (:class:`TransferRow`), its columns and its checks (the
  row kinds and pseudo-sources, ``KINDS``, ``SELF``..., are :mod:`taskonomy.tasks`');
- ``_table``: :class:`TransferTable` (validated rows and the queries selection needs), task names;
- ``_table_io``: tables in CSV, JSON and Parquet files;
- ``_builtin``: the published Taskonomy tables (``paper-16k``, ``paper-1k``, ``paper-base``);
- ``_ahp``: win-rate matrices and AHP; ``_target``: one target's affinities, gain, quality, intervals;
- ``_similarity``: the task-similarity tree (tasks clustered by their transfer-out affinities) and
  the adjusted Rand index of a cut of it against a partition;
- ``_estimators``: LogME and H-score; ``_proxy_rows``: the feature rows they score;
  ``transfer_proxies``: scoring candidates with them (training-free affinity estimates; an experiment
  with ``affinity.estimate: proxy`` runs them for every candidate in its ``proxy_finalize`` job,
  :mod:`taskonomy.execution.handlers.proxy_finalize`).

Other packages import these names from ``taskonomy.affinity``.
"""

from __future__ import annotations

from taskonomy.affinity._ahp import ahp, ahp_with_consistency, consistency_ratio, reciprocal_matrix, win_rate_matrix
from taskonomy.affinity._builtin import BUILTIN_TABLES, load_table, published_file
from taskonomy.affinity._rows import COLUMNS, OPTIONAL_COLUMNS, TransferRow
from taskonomy.affinity._similarity import SimilarityTree, adjusted_rand_index, task_similarity_tree
from taskonomy.affinity._table import TransferTable, resolve_task_name
from taskonomy.affinity._table_io import FORMATS
from taskonomy.affinity._target import TargetAffinity, target_affinity
from taskonomy.affinity.transfer_proxies import (
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
    "BUILTIN_TABLES", "COLUMNS", "FORMATS", "OPTIONAL_COLUMNS", "TargetAffinity",
    "TransferRow", "TransferTable", "ahp", "ahp_with_consistency", "consistency_ratio", "load_table",
    "published_file", "reciprocal_matrix", "resolve_task_name", "target_affinity", "win_rate_matrix",
    "SimilarityTree", "adjusted_rand_index", "task_similarity_tree",
]
