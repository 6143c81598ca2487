"""Model bank and predictions: ``/v1/experiments/{id}/models``, ``/v1/models/{key}`` (card),
``/v1/models/{key}/weights`` (safetensors, streamed), ``POST /v1/experiments/{id}/predictions``
and ``/v1/predictions/{id}`` (+ its pictures).

Cards are JSON in the artifact store, listed and built from the experiment's spec and the store
alone (:mod:`taskonomy.modelbank`, no torch). A prediction is run by a transfer worker: the
gateway checks the upload (Pillow, never the claimed content type), writes it with the request
into the store, sends ``taskonomy.predict`` by name to the ``transfer`` queue and answers
**202** with ``Location: /v1/predictions/{id}``; polling that answers 202 until the worker has
written the result (``?wait=S`` waits up to S seconds first).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from services.gateway.bodies import is_json, parse_json
from services.gateway.deps import Ctx, Reader, Writer
from services.gateway.problems import ProblemError, ServiceUnavailable, problem_responses
from services.gateway.routers.experiments import ExperimentId
from services.queue.tasknames import PREDICT, PREDICT_QUEUE
from taskonomy.errors import InvalidInputError, NotFoundError, PreconditionError
from taskonomy.modelbank import (
    ImageDimensionsError,
    ImageTooLargeError,
    UnsupportedImageError,
    decode_image,
    export_name,
    read_card,
)
from taskonomy.store import ArtifactStore, validate_key

router = APIRouter(tags=["models"])

CHUNK = 1 << 20
PredictionId = Annotated[str, Path(alias="id", pattern=r"^[0-9a-f]{32}$", description="prediction id")]
PictureName = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.+\-]{1,200}\.png$", description="a picture of the result")]


def _experiment(ctx: Ctx, exp_id: str) -> Any:
    from taskonomy.contract import ExperimentSpec
    from taskonomy.modelbank import Experiment

    record = ctx.state.get(exp_id)
    if record is None:
        raise NotFoundError(f"no experiment {exp_id!r}")
    url = record.result.get("store") if isinstance(record.result, dict) else None
    store = ctx.artifacts_at(url if isinstance(url, str) and url else ctx.settings.store_url)
    spec = ExperimentSpec.parse(record.spec, origin=f"experiment {exp_id!r}")
    return Experiment(id=exp_id, spec=spec, store=store), record


def _links(card: dict[str, Any]) -> dict[str, Any]:
    base = f"/v1/models/{card['weights']}"
    return {**card, "links": {"self": base, "weights": f"{base}/weights"}}


def _list(ctx: Ctx, exp_id: str) -> dict[str, Any]:
    from taskonomy.modelbank import list_models

    exp, record = _experiment(ctx, exp_id)
    try:
        cards = list_models(exp)
    except OSError as exc:
        raise ServiceUnavailable(f"the artifact store cannot be read: {exc}",
                                 retry_after_s=ctx.settings.retry_after_s) from None
    return {"experiment": exp_id, "state": record.state, "count": len(cards), "models": [_links(c) for c in cards]}


@router.get("/v1/experiments/{id}/models", dependencies=[Reader],
            summary="Model cards of every trained network of an experiment (task-specific and transfers)",
            responses=problem_responses(401, 403, 404, 422, 503))
async def experiment_models(ctx: Ctx, exp_id: ExperimentId) -> dict[str, Any]:
    return await run_in_threadpool(_list, ctx, exp_id)


def _card(ctx: Ctx, key: str) -> dict[str, Any]:
    validate_key(key)
    return read_card(ctx.artifacts, key)


@router.get("/v1/models/{key:path}/weights", dependencies=[Reader],
            summary="A network's safetensors weights (streamed); only networks with a model card",
            responses={200: {"content": {"application/octet-stream": {}}, "description": "safetensors bytes"},
                       **problem_responses(401, 403, 404, 409, 422, 503)})
async def model_weights(ctx: Ctx, key: str) -> StreamingResponse:
    card = await run_in_threadpool(_card, ctx, key)
    blob: bytes = await run_in_threadpool(ctx.artifacts.get_bytes, card["weights"])

    def chunks() -> Iterator[bytes]:
        for lo in range(0, len(blob), CHUNK):
            yield blob[lo:lo + CHUNK]

    name = export_name(card)
    return StreamingResponse(chunks(), media_type="application/octet-stream", headers={
        "Content-Length": str(len(blob)), "ETag": f"\"{card['sha256']}\"",
        "Content-Disposition": f"attachment; filename=\"{name}.safetensors\""})


@router.get("/v1/models/{key:path}", dependencies=[Reader], summary="A network's model card",
            responses=problem_responses(401, 403, 404, 409, 422, 503))
async def model_card(ctx: Ctx, key: str) -> dict[str, Any]:
    return _links(await run_in_threadpool(_card, ctx, key))


# -- predictions ---------------------------------------------------------------------------------

def _rkey(pid: str, name: str) -> str:
    return validate_key(f"predictions/{pid}/{name}")


def _check_image(data: bytes, limit: int) -> None:
    try:
        decode_image(data, max_bytes=limit)
    except ImageTooLargeError as exc:
        raise ProblemError(413, exc.code, str(exc)) from None
    except UnsupportedImageError as exc:
        raise ProblemError(415, exc.code, str(exc)) from None
    except ImageDimensionsError as exc:
        raise ProblemError(422, exc.code, str(exc)) from None


def _submit(ctx: Ctx, exp_id: str, body: bytes, content_type: str, transfers: bool) -> str:
    from taskonomy.modelbank import MAX_IMAGE_BYTES

    exp, record = _experiment(ctx, exp_id)
    if record.state != "SUCCEEDED":
        raise PreconditionError(f"experiment {exp_id!r} is {record.state}; predictions need its trained networks "
                                "(wait until it has SUCCEEDED)")
    pid = uuid.uuid4().hex
    store: ArtifactStore = ctx.artifacts
    request: dict[str, Any] = {"id": pid, "experiment": exp_id, "spec": exp.spec_dict(), "store": exp.store.url,
                               "transfers": transfers, "created_at": time.time()}
    if is_json(content_type):
        doc = parse_json(body)
        index = doc.get("world_sample") if isinstance(doc, dict) else None
        if isinstance(index, bool) or not isinstance(index, int):
            raise InvalidInputError("world_sample: give the index of a test image of the experiment's world "
                                    "(an integer), or upload a PNG/JPEG image as the body")
        if exp.spec.dataset.kind != "world":
            raise PreconditionError(f"experiment {exp_id!r} was not trained on the built-in world; upload an image")
        if not 0 <= index < int(exp.spec.splits.test):
            raise InvalidInputError(f"world_sample must be in 0..{int(exp.spec.splits.test) - 1}, got {index}")
        request["world_sample"] = index
    else:
        _check_image(body, min(MAX_IMAGE_BYTES, ctx.settings.max_body_bytes))
        request["upload"] = _rkey(pid, "upload")
        store.put_bytes(request["upload"], body, meta={"content_type": content_type})
    store.put_json(_rkey(pid, "request.json"), request)
    _send(ctx, pid, store.url)
    return pid


def _send(ctx: Ctx, pid: str, store_url: str) -> None:
    from kombu.exceptions import OperationalError

    try:
        ctx.celery.send_task(PREDICT, args=[pid, store_url], queue=PREDICT_QUEUE, retry=True,
                             retry_policy={"max_retries": 2, "interval_start": 0.0, "interval_step": 0.5,
                                           "interval_max": 1.0})
    except OperationalError as exc:
        raise ServiceUnavailable(f"the broker cannot be reached: {exc}",
                                 retry_after_s=ctx.settings.retry_after_s) from None


def _status(ctx: Ctx, pid: str) -> dict[str, Any] | None:
    """The result with picture URLs, ``None`` while pending; 404 for an unknown id."""
    store = ctx.artifacts
    result_key = _rkey(pid, "result.json")
    if store.exists(result_key):
        result = dict(store.get_json(result_key))
        base = f"/v1/predictions/{pid}"
        if result.get("state") == "SUCCEEDED":
            result["input_url"] = f"{base}/input.png"
            for p in result.get("predictions", []):
                p["url"] = f"{base}/{p['image']}"
            result["ground_truth_urls"] = {t: f"{base}/{n}" for t, n in result.get("ground_truth", {}).items()}
        return result
    if not store.exists(_rkey(pid, "request.json")):
        raise NotFoundError(f"no prediction {pid!r}")
    return None


def _pending(ctx: Ctx, pid: str, response: Response) -> dict[str, Any]:
    response.status_code = 202
    response.headers["Location"] = f"/v1/predictions/{pid}"
    response.headers["Retry-After"] = "1"
    try:
        created = float(ctx.artifacts.get_json(_rkey(pid, "request.json")).get("created_at", time.time()))
    except (NotFoundError, OSError, ValueError, TypeError):
        created = time.time()
    return {"id": pid, "state": "PENDING", "waiting_s": round(max(0.0, time.time() - created), 1),
            "links": {"self": f"/v1/predictions/{pid}"}}


async def _wait(ctx: Ctx, pid: str, wait: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + wait
    while True:
        result = await run_in_threadpool(_status, ctx, pid)
        if result is not None or time.monotonic() >= deadline:
            return result
        await asyncio.sleep(0.2)


@router.post(
    "/v1/experiments/{id}/predictions", status_code=202, dependencies=[Writer],
    summary="Every task's prediction for an uploaded image (or a world sample), run by a transfer worker",
    description="Body: a PNG or JPEG image (at most 5 MiB and the gateway's body limit, sides 8..4096 px; any "
                "size is centre-cropped and resized to the experiment's resolution), or JSON "
                "`{\"world_sample\": i}` for test image i of the experiment's world (its ground truth is drawn "
                "too). Multi-view tasks are skipped for an uploaded image (they need several views). Answers 202 "
                "with Location `/v1/predictions/{id}`; with `wait` > 0 it waits for the result up to that many "
                "seconds and answers 200 when it is there.",
    openapi_extra={"requestBody": {"required": True, "content": {
        "image/png": {"schema": {"type": "string", "format": "binary"}},
        "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
        "application/json": {"schema": {"type": "object", "properties": {"world_sample": {"type": "integer"}}}}}}},
    responses={200: {"description": "the finished prediction (only with wait)"},
               **problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 503)},
)
async def submit_prediction(
    request: Request, response: Response, ctx: Ctx, exp_id: ExperimentId,
    transfers: Annotated[bool, Query(description="also run the transfers the taxonomy chose")] = False,
    wait: Annotated[float, Query(ge=0, le=60, description="seconds to wait for the result")] = 0.0,
) -> dict[str, Any]:
    body = await request.body()
    pid = await run_in_threadpool(_submit, ctx, exp_id, body, request.headers.get("content-type", ""), transfers)
    result = await _wait(ctx, pid, wait) if wait > 0 else None
    if result is None:
        return await run_in_threadpool(_pending, ctx, pid, response)
    response.status_code = 200
    response.headers["Location"] = f"/v1/predictions/{pid}"
    return result


@router.get("/v1/predictions/{id}", dependencies=[Reader],
            summary="A prediction: 202 while a worker runs it, then its pictures (one per task)",
            responses={202: {"description": "still running"}, **problem_responses(401, 403, 404, 422, 503)})
async def get_prediction(
    ctx: Ctx, pid: PredictionId, response: Response,
    wait: Annotated[float, Query(ge=0, le=60, description="seconds to wait for the result")] = 0.0,
) -> dict[str, Any]:
    result = await _wait(ctx, pid, wait)
    return await run_in_threadpool(_pending, ctx, pid, response) if result is None else result


@router.get("/v1/predictions/{id}/{name}", dependencies=[Reader], summary="One picture of a prediction",
            responses={200: {"content": {"image/png": {}}, "description": "PNG"},
                       **problem_responses(401, 403, 404, 422, 503)})
async def prediction_picture(ctx: Ctx, pid: PredictionId, name: PictureName) -> Response:
    key = _rkey(pid, name)
    try:
        data = await run_in_threadpool(ctx.artifacts.get_bytes, key)
    except NotFoundError:
        raise NotFoundError(f"prediction {pid!r} has no picture {name!r}") from None
    return Response(data, media_type="image/png", headers={"Cache-Control": "max-age=3600"})
