"""``POST /v1/taxonomy``: a taxonomy over a published table or a finished experiment, answered by
the solver service and cached. A query changes nothing, so it is a *read* for authentication."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse

from services.gateway.bodies import JsonBody
from services.gateway.deps import Ctx, Reader
from services.gateway.problems import problem_responses
from services.gateway.schemas import TaxonomyIn, TaxonomyOut

router = APIRouter(prefix="/v1/taxonomy", tags=["taxonomy"])

EXAMPLES: dict[str, Any] = {
    "defaults": {"summary": "the published 16k table, all defaults",
                 "value": {"table": "paper-16k"}},
    "budget": {"summary": "a smaller budget, first-order transfers only",
               "value": {"table": "paper-16k", "budget": 4, "max_order": 1}},
    "roles": {"summary": "chosen targets, a new task with few labels, objective gain",
              "value": {"table": "paper-1k", "targets": ["rgb2depth", "reshade", "rgb2sfnorm", "edge3d"],
                        "target_only": ["curvature"], "budget": 3, "objective": "gain"}},
}


@router.post(
    "", dependencies=[Reader, JsonBody], summary="Solve a taxonomy (the options of `taskonomy solve`)",
    description="The answer has the keys of `taskonomy solve --json`. An infeasible problem is an answer "
                "(status INFEASIBLE), not an error. The `X-Cache` header says whether it came from the cache.",
    responses={200: {"model": TaxonomyOut, "description": "the solution"},
               **problem_responses(401, 403, 404, 409, 413, 422, 502, 503, 504)},
)
def solve(ctx: Ctx, body: Annotated[TaxonomyIn, Body(openapi_examples=EXAMPLES)]) -> JSONResponse:
    answer, cached = ctx.taxonomy.solve(body.table, body.problem())
    return JSONResponse(answer, headers={"X-Cache": "hit" if cached else "miss"})
