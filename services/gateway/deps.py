"""Dependencies of the routes, as ``Annotated`` aliases (``ctx: Ctx``) and guards."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.gateway.auth import check_request
from services.gateway.context import GatewayContext

#: Documents the bearer scheme in OpenAPI; the check itself is :func:`check_request`.
bearer = HTTPBearer(auto_error=False, description="an API token from TASKONOMY_API_TOKENS")


def get_ctx(request: Request) -> GatewayContext:
    ctx: GatewayContext = request.app.state.ctx
    return ctx


Ctx = Annotated[GatewayContext, Depends(get_ctx)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def require_token(request: Request, ctx: Ctx, _credentials: Credentials) -> None:
    """Guard of every mutating call."""
    check_request(request, tokens=ctx.settings.tokens())


def read_access(request: Request, ctx: Ctx, _credentials: Credentials) -> None:
    """Guard of reads: open unless ``reads_require_token`` is set."""
    if ctx.settings.reads_require_token:
        check_request(request, tokens=ctx.settings.tokens())


Writer = Depends(require_token)
Reader = Depends(read_access)
