"""Transfer tables over HTTP: content negotiation (JSON or CSV) and the summary of a table."""

from __future__ import annotations

import io
import json
from typing import Any

from fastapi import Request, Response

from taskonomy.affinity import COLUMNS, OPTIONAL_COLUMNS, TransferTable
from taskonomy.tasks import SELF

#: Titles of the built-in published tables.
BUILTIN_TITLES = {
    "paper-16k": "Taskonomy (CVPR 2018): transfers trained on 16k images",
    "paper-1k": "Taskonomy (CVPR 2018): transfers trained on 1k images",
    "paper-base": "Taskonomy (CVPR 2018): earlier set, orders 1 and 2",
}


def _quality(accept: str, media: str) -> float:
    best = 0.0
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        kind = fields[0].lower()
        q = 1.0
        for f in fields[1:]:
            if f.startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        major = media.split("/")[0]
        if kind in (media, f"{major}/*", "*/*"):
            # an exact match outranks a wildcard of the same q
            best = max(best, q + (0.0001 if kind == media else 0.0))
    return best


def wants_csv(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return bool(accept) and _quality(accept, "text/csv") > _quality(accept, "application/json")


def transfers_response(table: TransferTable, *, request: Request, fmt: str | None,
                       extra: dict[str, Any] | None = None) -> Response:
    """The table as CSV (``fmt='csv'`` or an Accept preferring text/csv) or JSON."""
    if fmt == "csv" or (fmt is None and wants_csv(request)):
        buf = io.BytesIO()
        table.write(buf, format="csv")
        return Response(buf.getvalue(), media_type="text/csv; charset=utf-8")
    columns = list(COLUMNS) + (list(OPTIONAL_COLUMNS) if table.has_intervals else [])
    body = {**(extra or {}), "columns": columns,
            "rows": [{c: rec.get(c) for c in columns} for rec in table.to_records()]}
    return Response(json.dumps(body, allow_nan=False), media_type="application/json")


def summary(table: TransferTable) -> dict[str, Any]:
    """Tasks and default roles, as the solver reads them (``taskonomy.selection.default_roles``)."""
    from taskonomy.selection import default_roles

    targets, source_only, unused = default_roles(table)
    return {"tasks": [t for t in table.tasks() if t != SELF], "targets": targets, "source_only": source_only,
            "unused": unused}
