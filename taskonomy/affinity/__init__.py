"""Transfer tables, win rates, AHP affinities, gain and quality, bootstrap intervals.

>>> from taskonomy.affinity import load_table
>>> len(load_table("paper-16k").targets())
22
"""

from __future__ import annotations

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

__all__ = [
    "BUILTIN_TABLES", "COLUMNS", "FORMATS", "KINDS", "TRANSFER_KINDS", "TransferRow", "TransferTable",
    "load_table", "published_file", "resolve_task_name",
]
