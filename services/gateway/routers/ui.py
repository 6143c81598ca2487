"""The web UI: static pages (plain HTML, vanilla JS, SVG) that call the REST API.

``/ui/`` experiments with live per-stage progress, ``/ui/experiments/{id}`` heatmap and
gain/quality table (also for a published table's name), ``/ui/taxonomy`` the interactive
taxonomy page. ``/ui/demo`` every task's prediction for an uploaded image
or a world sample.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from services.gateway.deps import Ctx
from taskonomy.affinity import BUILTIN_TABLES
from taskonomy.errors import NotFoundError

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(include_in_schema=False)


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC_DIR / name, media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui")
def ui_redirect() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui/")
def experiments_page() -> FileResponse:
    return _page("index.html")


@router.get("/ui/experiments/{exp_id}")
def experiment_page(exp_id: str, ctx: Ctx) -> FileResponse:
    """The page of an experiment or a published table; 404 for a name that is neither (when reads are
    open: with ``reads_require_token`` the page itself tells nothing, its API calls need the token)."""
    if not ctx.settings.reads_require_token and exp_id not in BUILTIN_TABLES and ctx.state.get(exp_id) is None:
        raise NotFoundError(f"no experiment {exp_id!r} (and not a published table: {', '.join(BUILTIN_TABLES)})")
    return _page("experiment.html")


@router.get("/ui/taxonomy")
def taxonomy_page() -> FileResponse:
    return _page("taxonomy.html")


@router.get("/ui/demo")
def demo_page() -> FileResponse:
    return _page("demo.html")
