"""The transfer table: the one interchange format between affinity and selection.

One row (:class:`~taskonomy.affinity._rows.TransferRow`) per candidate of a target's AHP
tournament, plus the ``pixels`` baseline, which is outside the tournament. The table checks
every row and refuses duplicates, and answers the queries selection needs (targets, tasks, a
target's transfer rows, its ``self`` row); files are read and written by
:mod:`taskonomy.affinity._table_io`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import IO, Any

from taskonomy.affinity._rows import COLUMNS, OPTIONAL_COLUMNS, SELF, TransferRow, check_row, where
from taskonomy.affinity._table_io import Format, read_records, row_from_record, write_records
from taskonomy.errors import InvalidInputError, NotFoundError, did_you_mean
from taskonomy.tasks import registry

#: Re-exported for readers of the table's columns and pseudo-sources.
__all__ = ["OPTIONAL_COLUMNS", "SELF", "TransferTable", "resolve_task_name"]


class TransferTable:
    """An immutable, validated list of :class:`TransferRow` (see the module docstring).

    Keys are ``(target, set of sources)``; a duplicate is an error naming both rows.
    """

    __slots__ = ("_by_target", "_cache", "_rows")

    def __init__(self, rows: Iterable[TransferRow]) -> None:
        rows = tuple(rows)
        seen: dict[tuple[str, frozenset[str]], int] = {}
        by_target: dict[str, list[TransferRow]] = {}
        for i, row in enumerate(rows):
            if not isinstance(row, TransferRow):
                raise InvalidInputError(f"row {i + 1}: expected a TransferRow, got {type(row).__name__}")
            check_row(i, row)
            key = (row.target, frozenset(row.sources))
            if key in seen:
                j = seen[key]
                raise InvalidInputError(f"{where(i, row)}: duplicate key: same target and sources as "
                                        f"{where(j, rows[j])}")
            seen[key] = i
            by_target.setdefault(row.target, []).append(row)
        if not rows:
            raise InvalidInputError("transfer table: no rows")
        self._rows = rows
        self._by_target = {t: tuple(rs) for t, rs in by_target.items()}
        self._cache: dict[str, Any] = {}  # derived, immutable views (the table never changes)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_rows(cls, rows: Iterable[TransferRow]) -> TransferTable:
        return cls(rows)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> TransferTable:
        """Rows from dicts with the long-format columns (``sources`` joined by ``|`` or a list)."""
        return cls(row_from_record(i, rec) for i, rec in enumerate(records))

    @classmethod
    def read(cls, source: str | os.PathLike[str] | IO[Any], format: Format | None = None) -> TransferTable:
        """Read a table from a path or file object; ``format`` defaults to the path's suffix.

        Raises InvalidInputError for a malformed file (naming the row) and OSError when it
        cannot be read.
        """
        return cls.from_records(read_records(source, format))

    # -- output ------------------------------------------------------------------------------
    def to_records(self) -> list[dict[str, Any]]:
        return [r.to_record() for r in self._rows]

    def write(self, dest: str | os.PathLike[str] | IO[Any], format: Format | None = None) -> None:
        """Write the table (csv | parquet | json; by suffix unless ``format`` is given)."""
        columns = list(COLUMNS) + (list(OPTIONAL_COLUMNS) if self.has_intervals else [])
        write_records(dest, self.to_records(), columns, format)

    # -- queries -----------------------------------------------------------------------------
    @property
    def rows(self) -> tuple[TransferRow, ...]:
        return self._rows

    @property
    def has_intervals(self) -> bool:
        return any(r.affinity_low is not None for r in self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[TransferRow]:
        return iter(self._rows)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TransferTable) and self._rows == other._rows

    def __hash__(self) -> int:
        return hash(self._rows)

    def __repr__(self) -> str:
        return f"TransferTable({len(self._rows)} rows, {len(self._by_target)} targets)"

    def targets(self) -> list[str]:
        """Tasks that receive candidates, in first-appearance order."""
        return list(self._by_target)

    def rows_for(self, target: str) -> tuple[TransferRow, ...]:
        if target not in self._by_target:
            raise NotFoundError("target " + did_you_mean(target, tuple(self._by_target)))
        return self._by_target[target]

    def tasks(self) -> list[str]:
        """Every task named by the table: targets, then sources of transfers (baselines excluded)."""
        if "tasks" not in self._cache:
            out = dict.fromkeys(self._by_target)
            for r in self._rows:
                if r.is_transfer:
                    out.update(dict.fromkeys(r.sources))
            self._cache["tasks"] = tuple(out)
        return list(self._cache["tasks"])

    def source_only_tasks(self) -> list[str]:
        """Tasks that appear only as sources of transfers."""
        return [t for t in self.tasks() if t not in self._by_target]

    def transfer_rows(self, target: str) -> tuple[TransferRow, ...]:
        """The rows of ``target`` that are transfer edges (first/higher order, random)."""
        key = f"transfers:{target}"
        if key not in self._cache:
            self._cache[key] = tuple(r for r in self.rows_for(target) if r.is_transfer)
        return self._cache[key]

    def self_row(self, target: str) -> TransferRow | None:
        """The ``self__target`` row (full supervision), if the table has one."""
        return next((r for r in self.rows_for(target) if r.kind == "self_full_supervision"), None)

    def rename(self, mapping: Mapping[str, str]) -> TransferTable:
        """A copy with task names replaced through ``mapping`` (names not in it are kept)."""
        def m(name: str) -> str:
            return mapping.get(name, name)

        return TransferTable(replace(r, target=m(r.target), sources=tuple(m(s) for s in r.sources))
                             for r in self._rows)

    def to_our_names(self) -> TransferTable:
        """Paper aliases → our task names, where the task registry knows the alias."""
        return self.rename(registry().alias_map())

    def to_paper_names(self) -> TransferTable:
        """Our task names → paper aliases, where the task registry knows the name."""
        return self.rename({ours: alias for alias, ours in registry().alias_map().items()})


# -- name resolution ---------------------------------------------------------------------------
def resolve_task_name(name: str, known: Sequence[str], *, field: str = "task") -> str:
    """Map ``name`` (ours or a paper alias) to the spelling used in ``known`` (a table's tasks).

    Raises InvalidInputError naming ``field`` and listing the known names when nothing matches.
    """
    if name in known:
        return name
    reg = registry()
    if name in reg:
        spec = reg.get(name)
        for candidate in (spec.alias, spec.name):
            if candidate in known:
                return candidate
    raise InvalidInputError(f"{field}: unknown task " + did_you_mean(name, tuple(known)))
