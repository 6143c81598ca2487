"""The published Taskonomy tables (Zamir et al., CVPR 2018), shipped inside the package.

``paper-16k``, ``paper-1k`` and ``paper-base`` are the authors' released affinities and win rates
(github.com/StanfordVL/taskonomy, MIT licence), converted from their pickles to the long CSV
format without changing a value. Task names are the paper's aliases (``rgb2sfnorm``...).
"""

from __future__ import annotations

import functools
import os
from importlib import resources

from taskonomy.affinity._table import TransferTable
from taskonomy.errors import NotFoundError

#: Built-in table name → file under ``taskonomy/data/published``.
_FILES: dict[str, str] = {
    "paper-16k": "transfers_16k_long.csv",
    "paper-1k": "transfers_1k_long.csv",
    "paper-base": "transfers_base_long.csv",
}
BUILTIN_TABLES: tuple[str, ...] = tuple(_FILES)


def published_file(name: str) -> str:
    """Path of a file shipped under ``taskonomy/data/published`` (e.g. the first-order rankings)."""
    ref = resources.files("taskonomy").joinpath("data", "published", name)
    if not ref.is_file():
        raise NotFoundError(f"published file {name!r} is not shipped with this installation")
    return str(ref)


@functools.lru_cache(maxsize=len(_FILES))
def _builtin(name: str) -> TransferTable:
    return TransferTable.read(published_file(_FILES[name]))


def load_table(name_or_path: str | os.PathLike[str]) -> TransferTable:
    """A built-in table by name (:data:`BUILTIN_TABLES`) or a table file (csv | parquet | json).

    Raises NotFoundError for a name that is neither a built-in table nor an existing file.
    """
    text = os.fspath(name_or_path)
    if text in _FILES:
        return _builtin(text)
    if not os.path.exists(text):
        raise NotFoundError(f"table {text!r}: no such file, and not a built-in table "
                            f"(built-in: {', '.join(BUILTIN_TABLES)})")
    return TransferTable.read(text)
