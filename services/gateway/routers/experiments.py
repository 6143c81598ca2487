"""``/v1/experiments``: submit (idempotent by content), list, status, cancel, re-run, add a task, transfers.

Submission: the experiment id is ``ExperimentSpec.content_key()``, a hash of everything that
determines the results (the name excluded). A new id is created and enqueued on the control
queue by task name: **202 Accepted** with ``Location``. Submitting a spec whose experiment exists
answers **200 OK** with the same ``Location`` and the current record and enqueues nothing, unless
that experiment FAILED or was CANCELLED: then it is reset and run again (202). ``POST
/v1/experiments/{id}/rerun`` runs any finished experiment again, and an active (stuck) one with
``force=true``. ``DELETE`` cancels: CANCELLED at once when none of its jobs runs, else CANCELLING
until the running ones end.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from services.gateway.admission import admit
from services.gateway.bodies import JsonBody, parse_json
from services.gateway.deps import Ctx, Reader, Writer
from services.gateway.problems import ServiceUnavailable, problem_responses
from services.gateway.schemas import AddTaskIn, ExperimentEvents, ExperimentList, ExperimentOut
from services.gateway.table_responses import transfers_response
from services.queue.state import ACTIVE, ExperimentRecord
from services.queue.submission import experiment_id
from taskonomy.contract import REPORT_PAGE, ExperimentSpec, report_prefix
from taskonomy.errors import InvalidInputError, NotFoundError, PreconditionError
from taskonomy.tasks import registry

router = APIRouter(prefix="/v1/experiments", tags=["experiments"])

ExperimentId = Annotated[str, Path(alias="id", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$",
                                   description="experiment id (from the Location of the submission)")]

SUBMIT_BODY: dict[str, Any] = {
    "required": True,
    "description": "an ExperimentSpec, or {\"preset\": \"quick\" | \"standard\" | \"paper\", ...overrides}",
    "content": {"application/json": {"schema": {"anyOf": [
        {"$ref": "#/components/schemas/ExperimentSpec"},
        {"$ref": "#/components/schemas/PresetSubmission"},
    ]}}},
}


def location(exp_id: str) -> str:
    return f"/v1/experiments/{exp_id}"


def to_out(record: ExperimentRecord) -> ExperimentOut:
    body = record.to_dict()
    body["name"] = str(record.spec.get("name", "experiment")) if isinstance(record.spec, dict) else "experiment"
    body["links"] = {"self": location(record.id), "transfers": location(record.id) + "/transfers",
                     "events": location(record.id) + "/events", "report": location(record.id) + "/report",
                     "ui": f"/ui/experiments/{record.id}"}
    return ExperimentOut.model_validate(body)


def _get(ctx: Ctx, exp_id: str) -> ExperimentRecord:
    record = ctx.state.get(exp_id)
    if record is None:
        raise NotFoundError(f"no experiment {exp_id!r}")
    return record


def _submit(ctx: Ctx, body: Any) -> tuple[ExperimentRecord, bool]:
    spec = admit(body, max_split_images=ctx.settings.max_split_images, dataset_roots=ctx.settings.dataset_roots)
    ctx.check_store()
    return ctx.submissions.submit(experiment_id(spec), spec.model_dump(mode="json"), store_url=ctx.settings.store_url)


@router.post(
    "", status_code=202, response_model=ExperimentOut, dependencies=[Writer, JsonBody],
    summary="Submit an experiment (idempotent by content)", openapi_extra={"requestBody": SUBMIT_BODY},
    responses={200: {"model": ExperimentOut, "description": "the experiment already exists (nothing enqueued)"},
               **problem_responses(400, 401, 403, 413, 422, 503)},
)
async def submit(request: Request, response: Response, ctx: Ctx) -> ExperimentOut:
    body = parse_json(await request.body())
    record, enqueued = await run_in_threadpool(_submit, ctx, body)
    response.status_code = 202 if enqueued else 200
    response.headers["Location"] = location(record.id)
    return to_out(record)


@router.get("", response_model=ExperimentList, dependencies=[Reader], summary="List experiments, newest first",
            responses=problem_responses(401, 403, 422, 503))
def list_experiments(
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ExperimentList:
    records = ctx.state.list(limit=limit, offset=offset)
    count = ctx.state.count()
    return ExperimentList(items=[to_out(r) for r in records], count=count, limit=limit, offset=offset)


@router.get("/{id}", response_model=ExperimentOut, dependencies=[Reader],
            summary="State, per-stage progress and errors of one experiment",
            responses=problem_responses(401, 403, 404, 422, 503))
def get_experiment(ctx: Ctx, exp_id: ExperimentId) -> ExperimentOut:
    return to_out(_get(ctx, exp_id))


@router.get("/{id}/events", response_model=ExperimentEvents, dependencies=[Reader],
            summary="What happened to one experiment, with times (state changes, restored and retried jobs)",
            responses=problem_responses(401, 403, 404, 422, 503))
def get_events(ctx: Ctx, exp_id: ExperimentId) -> ExperimentEvents:
    _get(ctx, exp_id)
    return ExperimentEvents.model_validate({"experiment": exp_id, "events": ctx.state.events(exp_id)})


@router.delete(
    "/{id}", status_code=202, response_model=ExperimentOut, dependencies=[Writer],
    summary="Cancel an experiment",
    description="Asks the executor to stop: CANCELLED at once when none of its jobs runs, else CANCELLING until "
                "the running jobs end (or the workers find them dead). A finished experiment (SUCCEEDED, FAILED, "
                "CANCELLED) answers 409: nothing to cancel.",
    responses=problem_responses(401, 403, 404, 409, 422, 503),
)
def cancel(ctx: Ctx, exp_id: ExperimentId) -> ExperimentOut:
    record = _get(ctx, exp_id)
    if record.state in ("SUCCEEDED", "FAILED", "CANCELLED"):
        raise PreconditionError(f"experiment {exp_id!r} already finished ({record.state}); nothing to cancel")
    return to_out(ctx.submissions.cancel(exp_id))


@router.post(
    "/{id}/rerun", status_code=202, response_model=ExperimentOut, dependencies=[Writer],
    summary="Run an experiment again (a failed, cancelled or stuck one)",
    description="Starts a new run under the same id; content-addressed artifacts make every finished job a "
                "no-op. An active experiment (PENDING, RUNNING, CANCELLING) is re-run only with `force=true` "
                "(e.g. stuck after a fault: the old run's jobs are superseded); otherwise 409.",
    responses=problem_responses(401, 403, 404, 409, 422, 503),
)
def rerun(
    ctx: Ctx, exp_id: ExperimentId, response: Response,
    force: Annotated[bool, Query(description="also re-run an experiment that is still active")] = False,
) -> ExperimentOut:
    ctx.check_store()
    record = ctx.submissions.rerun(exp_id, force=force)
    response.headers["Location"] = location(exp_id)
    return to_out(record)


@router.post(
    "/{id}/tasks", status_code=202, response_model=ExperimentOut, dependencies=[Writer, JsonBody],
    summary="Add a task to a finished experiment (only its new jobs run)",
    description="The task joins the spec with its role and the experiment runs again under the same id; "
                "content-addressed artifacts make every existing job a no-op. Refused (409) while the "
                "experiment is active or when the task is already part of it.",
    responses=problem_responses(401, 403, 404, 409, 413, 422, 503),
)
def add_task(ctx: Ctx, exp_id: ExperimentId, body: AddTaskIn, response: Response) -> ExperimentOut:
    record = _get(ctx, exp_id)
    if record.state in ACTIVE:
        raise PreconditionError(f"experiment {exp_id!r} is {record.state}; add tasks once it has finished "
                                "or after cancelling it")
    try:
        name = registry().get(body.name).name
    except NotFoundError as exc:
        raise InvalidInputError(f"name: {exc}") from None
    spec = ExperimentSpec.parse(record.spec, origin=f"experiment {exp_id!r}")
    if name in spec.task_names():
        raise PreconditionError(f"task {name!r} is already part of experiment {exp_id!r} "
                                f"(role {spec.role(name)})")
    entries = [{"name": t.name, "role": t.role} for t in spec.tasks] + [{"name": name, "role": body.role}]
    new_spec = spec.with_tasks(entries)
    ctx.check_store()
    record = ctx.submissions.rerun(exp_id, spec_data=new_spec.model_dump(mode="json"), store_url=ctx.settings.store_url)
    response.headers["Location"] = location(exp_id)
    return to_out(record)


@router.get(
    "/{id}/transfers", dependencies=[Reader], summary="The experiment's transfer table (JSON or CSV)",
    description="JSON (`{experiment, columns, rows}`) by default; CSV with `Accept: text/csv` or `?format=csv`. "
                "409 until the experiment has produced its table.",
    responses={200: {"content": {"application/json": {}, "text/csv": {}}, "description": "the table"},
               **problem_responses(401, 403, 404, 409, 422, 503)},
)
def transfers(
    ctx: Ctx, exp_id: ExperimentId, request: Request,
    format: Annotated[Literal["json", "csv"] | None, Query(description="overrides Accept")] = None,
) -> Response:
    _get(ctx, exp_id)
    _, table = ctx.taxonomy.experiment_table(exp_id)
    return transfers_response(table, request=request, fmt=format, extra={"experiment": exp_id})



#: Files of a report folder the gateway serves (the figures and validity.json; no path separators).
_REPORT_FILE = r"^[A-Za-z0-9][A-Za-z0-9_.=+\-]{0,120}\.(png|json)$"
_REPORT_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; base-uri 'self'; form-action 'none'"
_REPORT_MEDIA = {"png": "image/png", "json": "application/json", "html": "text/html; charset=utf-8"}


def _report_bytes(ctx: Ctx, exp_id: str, name: str) -> bytes:
    """A file of the experiment's report folder in its store; NotFoundError until it exists."""
    record = _get(ctx, exp_id)
    result = record.result if isinstance(record.result, dict) else {}
    store_url = result.get("store") if isinstance(result.get("store"), str) and result.get("store") else None
    store = ctx.artifacts_at(store_url or ctx.settings.store_url)
    key = f"{report_prefix(exp_id)}/{name}"
    try:
        return store.get_bytes(key)
    except NotFoundError:
        what = "report" if name == REPORT_PAGE else f"report file {name!r}"
        raise NotFoundError(f"experiment {exp_id!r} has no {what} yet (state {record.state}); the workers write "
                            "it when the experiment succeeds") from None
    except OSError as exc:
        raise ServiceUnavailable(f"the artifact store cannot be read: {exc}",
                                 retry_after_s=ctx.settings.retry_after_s) from None


@router.get(
    "/{id}/report", dependencies=[Reader], summary="The experiment's report (HTML: figures, taxonomy, validity)",
    description="The report `taskonomy run` writes beside its table, written into the store by the workers when "
                "the experiment succeeds; 404 until then. Its figures are under `/{id}/report/{file}`.",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}, "description": "report.html"},
               **problem_responses(401, 403, 404, 422, 503)},
)
async def report(ctx: Ctx, exp_id: ExperimentId) -> Response:
    page = await run_in_threadpool(_report_bytes, ctx, exp_id, REPORT_PAGE)
    # the page links its figures by bare name: resolve them under /report/, where they are served
    base = f'<base href="{location(exp_id)}/report/">'.encode()
    page = page.replace(b"<head>", b"<head>" + base, 1)
    return Response(page, media_type=_REPORT_MEDIA["html"], headers={"Content-Security-Policy": _REPORT_CSP})


@router.get(
    "/{id}/report/{file}", dependencies=[Reader], summary="A figure (PNG) or validity.json of the report",
    description="`transfers.csv` and `taxonomy.json`, which the page links, are the experiment's table (CSV) and "
                "its stored taxonomy.",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "application/json": {}, "text/csv": {}}, "description": "the file"},
               **problem_responses(401, 403, 404, 409, 422, 503)},
)
async def report_file(ctx: Ctx, exp_id: ExperimentId, request: Request,
                      file: Annotated[str, Path(pattern=_REPORT_FILE + r"|^transfers\.csv$")]) -> Response:
    if file == "transfers.csv":
        _get(ctx, exp_id)
        _, table = await run_in_threadpool(ctx.taxonomy.experiment_table, exp_id)
        return transfers_response(table, request=request, fmt="csv", extra={"experiment": exp_id})
    if file == "taxonomy.json":
        record = _get(ctx, exp_id)
        key = record.result.get("taxonomy") if isinstance(record.result, dict) else None
        if not isinstance(key, str) or not key:
            raise NotFoundError(f"experiment {exp_id!r} has no taxonomy yet (state {record.state})")
        store_url = record.result.get("store") or ctx.settings.store_url
        data = await run_in_threadpool(ctx.artifacts_at(str(store_url)).get_bytes, key)
        return Response(data, media_type=_REPORT_MEDIA["json"])
    data = await run_in_threadpool(_report_bytes, ctx, exp_id, file)
    return Response(data, media_type=_REPORT_MEDIA[file.rpartition(".")[2]],
                    headers={"Content-Security-Policy": _REPORT_CSP})
