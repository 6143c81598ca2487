"""The transfer table: the one interchange format between affinity and selection.

One row per candidate of a target's AHP tournament (plus the ``pixels`` baseline, which is
outside the tournament). Columns, as in the published Taskonomy files
(``shared/anchors/taskonomy-paper/*_long.csv``):

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

A *missing* value (an empty CSV cell, JSON/Parquet null) is allowed and stored as ``None``: the
published 16k set lacks the affinity and quality of four transfers, and the ``pixels`` baseline
has no affinity. An explicit NaN, by contrast, is an error naming the row.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Literal

from taskonomy.errors import InvalidInputError, NotFoundError

#: Row kinds, as in the published tables.
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
#: Pseudo-source names of the baselines (not tasks).
SELF = "self"
PIXELS = "pixels"
RANDOM = "random"

FORMATS: tuple[str, ...] = ("csv", "parquet", "json")
Format = Literal["csv", "parquet", "json"]

#: Column order of the long format.
COLUMNS: tuple[str, ...] = (
    "target", "sources", "n_sources", "kind", "raw_key",
    "affinity_ahp", "winrate_vs_pixels_gain", "winrate_vs_task_quality",
)
OPTIONAL_COLUMNS: tuple[str, ...] = ("affinity_low", "affinity_high")
_VALUE_COLUMNS = {
    "affinity_ahp": "affinity", "winrate_vs_pixels_gain": "gain", "winrate_vs_task_quality": "quality",
    "affinity_low": "affinity_low", "affinity_high": "affinity_high",
}


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


def _where(i: int, row: TransferRow | None = None, key: str | None = None) -> str:
    name = key if key is not None else (row.raw_key if row is not None else "?")
    return f"row {i + 1} ({name})"


def _check_row(i: int, row: TransferRow) -> None:
    where = _where(i, row)
    if not isinstance(row.target, str) or not row.target:
        raise InvalidInputError(f"{where}: target must be a non-empty string")
    if row.kind not in KINDS:
        raise InvalidInputError(f"{where}: unknown kind {row.kind!r}; allowed: {', '.join(KINDS)}")
    if not row.sources or any(not isinstance(s, str) or not s for s in row.sources):
        raise InvalidInputError(f"{where}: sources must be a non-empty list of task names")
    if len(set(row.sources)) != len(row.sources):
        raise InvalidInputError(f"{where}: sources repeat a task: {'|'.join(row.sources)}")
    expected = {
        "self_full_supervision": (SELF,), "own_encoder_small_data": (row.target,),
        "random_encoder": (RANDOM,), "pixels_scratch_baseline": (PIXELS,),
    }.get(row.kind)
    if expected is not None and row.sources != expected:
        raise InvalidInputError(f"{where}: kind {row.kind} needs sources {'|'.join(expected)}, "
                                f"got {'|'.join(row.sources)}")
    if row.kind == "first_order" and len(row.sources) != 1:
        raise InvalidInputError(f"{where}: kind first_order needs exactly 1 source, got {len(row.sources)}")
    if row.kind == "higher_order" and len(row.sources) < 2:
        raise InvalidInputError(f"{where}: kind higher_order needs at least 2 sources, got {len(row.sources)}")
    if row.kind in TRANSFER_KINDS and any(s in (SELF, PIXELS) for s in row.sources):
        raise InvalidInputError(f"{where}: 'self' and 'pixels' are baselines, not sources of a transfer")
    for name in ("affinity", "gain", "quality", "affinity_low", "affinity_high"):
        v = getattr(row, name)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise InvalidInputError(f"{where}: {name} must be a number, got {v!r}")
        if math.isnan(v):
            raise InvalidInputError(f"{where}: {name} is NaN (leave the cell empty for a missing value)")
        if not 0.0 <= v <= 1.0:
            what = "a win rate" if name in ("gain", "quality") else "an affinity"
            raise InvalidInputError(f"{where}: {name} = {v!r} is outside [0, 1] ({what})")
    lo, hi = row.affinity_low, row.affinity_high
    if (lo is None) != (hi is None):
        raise InvalidInputError(f"{where}: give both affinity_low and affinity_high, or neither")
    if lo is not None and hi is not None:
        if lo > hi:
            raise InvalidInputError(f"{where}: affinity_low {lo} > affinity_high {hi}")
        if row.affinity is not None and not lo - 1e-12 <= row.affinity <= hi + 1e-12:
            raise InvalidInputError(f"{where}: affinity {row.affinity} outside [affinity_low, affinity_high] "
                                    f"= [{lo}, {hi}]")


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
            _check_row(i, row)
            key = (row.target, frozenset(row.sources))
            if key in seen:
                j = seen[key]
                raise InvalidInputError(f"{_where(i, row)}: duplicate key: same target and sources as "
                                        f"{_where(j, rows[j])}")
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
        return cls(_row_from_record(i, rec) for i, rec in enumerate(records))

    @classmethod
    def read(cls, source: str | os.PathLike[str] | IO[Any], format: Format | None = None) -> TransferTable:
        """Read a table from a path or file object; ``format`` defaults to the path's suffix.

        Raises InvalidInputError for a malformed file (naming the row) and OSError when it
        cannot be read.
        """
        fmt = _format_of(source, format)
        if fmt == "csv":
            records = _read_csv(source)
        elif fmt == "json":
            records = _read_json(source)
        else:
            records = _read_parquet(source)
        return cls.from_records(records)

    # -- output ------------------------------------------------------------------------------
    def to_records(self) -> list[dict[str, Any]]:
        return [r.to_record() for r in self._rows]

    def write(self, dest: str | os.PathLike[str] | IO[Any], format: Format | None = None) -> None:
        """Write the table (csv | parquet | json; by suffix unless ``format`` is given)."""
        fmt = _format_of(dest, format)
        columns = list(COLUMNS) + (list(OPTIONAL_COLUMNS) if self.has_intervals else [])
        records = [{c: rec.get(c) for c in columns} for rec in self.to_records()]
        if fmt == "csv":
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
            w.writeheader()
            for rec in records:
                w.writerow({k: ("" if v is None else (repr(v) if isinstance(v, float) else v))
                            for k, v in rec.items()})
            _write_bytes(dest, buf.getvalue().encode())
        elif fmt == "json":
            _write_bytes(dest, (json.dumps({"columns": columns, "rows": records}, indent=1) + "\n").encode())
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            arrays = {c: [r[c] for r in records] for c in columns}
            schema = pa.schema([(c, pa.int64() if c == "n_sources" else
                                 (pa.string() if c in ("target", "sources", "kind", "raw_key") else pa.float64()))
                                for c in columns])
            pq.write_table(pa.table(arrays, schema=schema), dest)

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
            from taskonomy.errors import did_you_mean

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
        from taskonomy.tasks import registry

        return self.rename(registry().alias_map())

    def to_paper_names(self) -> TransferTable:
        """Our task names → paper aliases, where the task registry knows the name."""
        from taskonomy.tasks import registry

        return self.rename({ours: alias for alias, ours in registry().alias_map().items()})


# -- name resolution ---------------------------------------------------------------------------
def resolve_task_name(name: str, known: Sequence[str], *, field: str = "task") -> str:
    """Map ``name`` (ours or a paper alias) to the spelling used in ``known`` (a table's tasks).

    Raises InvalidInputError naming ``field`` and listing the known names when nothing matches.
    """
    if name in known:
        return name
    from taskonomy.tasks import registry

    reg = registry()
    if name in reg:
        spec = reg.get(name)
        for candidate in (spec.alias, spec.name):
            if candidate in known:
                return candidate
    from taskonomy.errors import did_you_mean

    raise InvalidInputError(f"{field}: unknown task " + did_you_mean(name, tuple(known)))


# -- readers -----------------------------------------------------------------------------------
def _format_of(obj: object, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise InvalidInputError(f"format: must be one of {', '.join(FORMATS)}; got {fmt!r}")
        return fmt
    name = os.fspath(obj) if isinstance(obj, (str, os.PathLike)) else getattr(obj, "name", "")
    suffix = Path(str(name)).suffix.lower().lstrip(".")
    if suffix == "pq":
        suffix = "parquet"
    if suffix not in FORMATS:
        raise InvalidInputError(f"format: cannot tell the format of {str(name) or 'the stream'!r} "
                                f"(suffix .csv, .parquet or .json, or pass format=)")
    return suffix


def _write_bytes(dest: str | os.PathLike[str] | IO[Any], data: bytes) -> None:
    if isinstance(dest, (str, os.PathLike)):
        path = Path(dest)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    elif isinstance(dest, io.TextIOBase):
        dest.write(data.decode())
    else:
        dest.write(data)


def _read_text(source: str | os.PathLike[str] | IO[Any]) -> str:
    try:
        if isinstance(source, (str, os.PathLike)):
            return Path(source).read_text(encoding="utf-8")
        data = source.read()
        return data.decode("utf-8") if isinstance(data, bytes) else str(data)
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"transfer table: not UTF-8 text (byte {exc.start}): a CSV or JSON table must be "
                                "UTF-8") from None


def _read_csv(source: str | os.PathLike[str] | IO[Any]) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(_read_text(source)))
    missing = {"target", "sources", "kind"} - set(reader.fieldnames or ())
    if missing:
        raise InvalidInputError(f"transfer table: missing column(s) {', '.join(sorted(missing))}; "
                                f"expected {', '.join(COLUMNS)}")
    return list(reader)


def _read_json(source: str | os.PathLike[str] | IO[Any]) -> list[dict[str, Any]]:
    try:
        doc = json.loads(_read_text(source))
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"transfer table: not valid JSON: {exc}") from None
    rows = doc.get("rows") if isinstance(doc, dict) else doc
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InvalidInputError("transfer table: JSON must be a list of row objects or {\"rows\": [...]}")
    return rows


def _read_parquet(source: str | os.PathLike[str] | IO[Any]) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(source)
    except OSError:
        raise
    except Exception as exc:  # pyarrow raises ArrowInvalid for a non-parquet file
        raise InvalidInputError(f"transfer table: not a readable Parquet file: {exc}") from None
    return table.to_pylist()


def _number(i: int, key: str, col: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return None
        try:
            value = float(text)
        except ValueError:
            raise InvalidInputError(f"{_where(i, key=key)}: {col} is not a number: {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInputError(f"{_where(i, key=key)}: {col} is not a number: {value!r}")
    return float(value)


def _row_from_record(i: int, rec: Mapping[str, Any]) -> TransferRow:
    target = rec.get("target")
    raw_sources = rec.get("sources")
    key = str(rec.get("raw_key") or f"{raw_sources}->{target}")
    if not isinstance(target, str) or not target.strip():
        raise InvalidInputError(f"{_where(i, key=key)}: target is missing")
    if isinstance(raw_sources, str):
        sources = tuple(s.strip() for s in raw_sources.split("|"))
    elif isinstance(raw_sources, (list, tuple)):
        sources = tuple(str(s) for s in raw_sources)
    else:
        raise InvalidInputError(f"{_where(i, key=key)}: sources is missing")
    kind = rec.get("kind")
    if not isinstance(kind, str):
        raise InvalidInputError(f"{_where(i, key=key)}: kind is missing; allowed: {', '.join(KINDS)}")
    values = {attr: _number(i, key, col, rec.get(col)) for col, attr in _VALUE_COLUMNS.items()}
    row = TransferRow(target=target.strip(), sources=sources, kind=kind.strip(), **values)
    n = rec.get("n_sources")
    if n not in (None, ""):
        try:
            n_int = int(n)
        except (TypeError, ValueError):
            raise InvalidInputError(f"{_where(i, row)}: n_sources is not an integer: {n!r}") from None
        if n_int != len(sources):
            raise InvalidInputError(f"{_where(i, row)}: n_sources = {n_int} but {len(sources)} sources are listed")
    raw = rec.get("raw_key")
    if raw not in (None, "") and raw != row.raw_key:
        raise InvalidInputError(f"{_where(i, row)}: raw_key {raw!r} does not match target and sources")
    return row


__all__ = [
    "COLUMNS", "FORMATS", "KINDS", "OPTIONAL_COLUMNS", "PIXELS", "RANDOM", "SELF", "TRANSFER_KINDS",
    "TransferRow", "TransferTable", "resolve_task_name",
]
