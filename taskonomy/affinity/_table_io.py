"""Transfer tables in files: CSV, JSON and Parquet, read into records and written from them.

Missing values are empty CSV cells or JSON/Parquet nulls; a malformed file raises
:class:`~taskonomy.errors.InvalidInputError` naming the row.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Literal

from taskonomy.affinity._rows import COLUMNS, KINDS, TransferRow, where
from taskonomy.errors import InvalidInputError
from taskonomy.files import atomic_write

FORMATS: tuple[str, ...] = ("csv", "parquet", "json")
Format = Literal["csv", "parquet", "json"]
#: Value columns → TransferRow attributes.
_VALUE_COLUMNS = {
    "affinity_ahp": "affinity", "winrate_vs_pixels_gain": "gain", "winrate_vs_task_quality": "quality",
    "affinity_low": "affinity_low", "affinity_high": "affinity_high",
}


def read_records(source: str | os.PathLike[str] | IO[Any], format: str | None = None) -> list[dict[str, Any]]:
    """The rows of a table file (path or file object) as dicts; ``format`` defaults to the suffix."""
    fmt = format_of(source, format)
    if fmt == "csv":
        return _read_csv(source)
    if fmt == "json":
        return _read_json(source)
    return _read_parquet(source)


def write_records(dest: str | os.PathLike[str] | IO[Any], records: Sequence[Mapping[str, Any]],
                  columns: Sequence[str], format: str | None = None) -> None:
    """Write ``records`` (only ``columns``, in that order) as csv | parquet | json (by suffix
    unless ``format`` is given); a path is replaced atomically."""
    fmt = format_of(dest, format)
    records = [{c: rec.get(c) for c in columns} for rec in records]
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
        w.writeheader()
        for rec in records:
            w.writerow({k: ("" if v is None else (repr(v) if isinstance(v, float) else v)) for k, v in rec.items()})
        _write_bytes(dest, buf.getvalue().encode())
    elif fmt == "json":
        _write_bytes(dest, (json.dumps({"columns": list(columns), "rows": records}, indent=1) + "\n").encode())
    else:
        import pyarrow as pa  # only for Parquet files
        import pyarrow.parquet as pq

        arrays = {c: [r[c] for r in records] for c in columns}
        schema = pa.schema([(c, pa.int64() if c == "n_sources" else
                             (pa.string() if c in ("target", "sources", "kind", "raw_key") else pa.float64()))
                            for c in columns])
        pq.write_table(pa.table(arrays, schema=schema), dest)


# -- readers -----------------------------------------------------------------------------------
def format_of(obj: object, fmt: str | None) -> str:
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
        atomic_write(dest, data)
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
            raise InvalidInputError(f"{where(i, key=key)}: {col} is not a number: {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInputError(f"{where(i, key=key)}: {col} is not a number: {value!r}")
    return float(value)


def row_from_record(i: int, rec: Mapping[str, Any]) -> TransferRow:
    target = rec.get("target")
    raw_sources = rec.get("sources")
    key = str(rec.get("raw_key") or f"{raw_sources}->{target}")
    if not isinstance(target, str) or not target.strip():
        raise InvalidInputError(f"{where(i, key=key)}: target is missing")
    if isinstance(raw_sources, str):
        sources = tuple(s.strip() for s in raw_sources.split("|"))
    elif isinstance(raw_sources, (list, tuple)):
        sources = tuple(str(s) for s in raw_sources)
    else:
        raise InvalidInputError(f"{where(i, key=key)}: sources is missing")
    kind = rec.get("kind")
    if not isinstance(kind, str):
        raise InvalidInputError(f"{where(i, key=key)}: kind is missing; allowed: {', '.join(KINDS)}")
    values = {attr: _number(i, key, col, rec.get(col)) for col, attr in _VALUE_COLUMNS.items()}
    row = TransferRow(target=target.strip(), sources=sources, kind=kind.strip(), **values)
    n = rec.get("n_sources")
    if n not in (None, ""):
        try:
            n_int = int(n)
        except (TypeError, ValueError):
            raise InvalidInputError(f"{where(i, row)}: n_sources is not an integer: {n!r}") from None
        if n_int != len(sources):
            raise InvalidInputError(f"{where(i, row)}: n_sources = {n_int} but {len(sources)} sources are listed")
    raw = rec.get("raw_key")
    if raw not in (None, "") and raw != row.raw_key:
        raise InvalidInputError(f"{where(i, row)}: raw_key {raw!r} does not match target and sources")
    return row
