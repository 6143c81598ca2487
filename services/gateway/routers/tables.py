"""``/v1/tables``: the transfer tables a taxonomy can be solved over (published ones and finished
experiments), with their tasks and default roles."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from services.gateway.deps import Ctx, Reader
from services.gateway.problems import problem_responses
from services.gateway.schemas import TableOut, TableSummary
from services.gateway.table_responses import BUILTIN_TITLES, summary, transfers_response
from taskonomy.affinity import BUILTIN_TABLES

router = APIRouter(prefix="/v1/tables", tags=["taxonomy"])
TableName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$",
                                description="paper-16k, paper-1k, paper-base or an experiment id",
                                openapi_examples={n: {"value": n} for n in BUILTIN_TABLES})]


@router.get("", response_model=list[TableSummary], dependencies=[Reader],
            summary="Tables a taxonomy can be solved over", responses=problem_responses(401, 403, 503))
def list_tables(ctx: Ctx) -> list[TableSummary]:
    out = [TableSummary(name=n, kind="builtin", title=BUILTIN_TITLES.get(n, n)) for n in BUILTIN_TABLES]
    for record in ctx.state.list(limit=200):
        if isinstance(record.result, dict) and (record.result.get("table") or record.result.get("transfers")):
            name = str(record.spec.get("name", "experiment"))
            out.append(TableSummary(name=record.id, kind="experiment", title=f"experiment {name} ({record.id})"))
    return out


@router.get("/{name}", response_model=TableOut, dependencies=[Reader], summary="One table's tasks and roles",
            responses=problem_responses(401, 403, 404, 409, 422, 503))
def get_table(ctx: Ctx, name: TableName,
              rows: Annotated[bool, Query(description="include the rows")] = False) -> TableOut:
    _, table = ctx.taxonomy.table(name)
    kind: Literal["builtin", "experiment"] = "builtin" if name in BUILTIN_TABLES else "experiment"
    body = TableOut(name=name, kind=kind, title=BUILTIN_TITLES.get(name, f"experiment {name}"), **summary(table))
    if rows:
        body.rows = table.to_records()
    return body


@router.get("/{name}/transfers", dependencies=[Reader], summary="A table's rows (JSON or CSV)",
            responses={200: {"content": {"application/json": {}, "text/csv": {}}, "description": "the table"},
                       **problem_responses(401, 403, 404, 409, 422, 503)})
def table_transfers(ctx: Ctx, name: TableName, request: Request,
                    format: Annotated[Literal["json", "csv"] | None, Query()] = None) -> Response:
    _, table = ctx.taxonomy.table(name)
    return transfers_response(table, request=request, fmt=format, extra={"table": name})
