"""The Open Inference Protocol (V2) REST routes: health, metadata, readiness and infer for
the models jpsi-exact and jpsi-surrogate (``service.v2`` parses and encodes)."""

from __future__ import annotations

from enum import Enum

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response

from service import bulk, v2
from service.errors import Unavailable
from service.routers.base import OFFLOAD_BYTES
from service.routers.bulk import bulk_cost, run_small_inline
from service.state import ServiceState

router = APIRouter(prefix="/v2")
PREDICT: list[str | Enum] = ["predictions"]
OPS: list[str | Enum] = ["operations"]

ERROR = {"description": 'The protocol\'s error: {"error": "..."}.'}
INFER_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            # the schema: service.schemas.v2.InferRequest, put in by service.app
            "application/json": {"schema": {"type": "object"}},
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary"},
                "description": "Binary tensor data extension: JSON header of "
                "Inference-Header-Content-Length bytes, then the tensors' bytes.",
            },
        },
    }
}


def error(exc: v2.V2Error) -> Response:
    return Response(exc.body(), status_code=exc.status, media_type="application/json")


def _json(body: dict, status: int = 200) -> Response:
    return Response(v2.orjson.dumps(body), status_code=status, media_type="application/json")


def _ready(st: ServiceState, model: str) -> list[str]:
    """What stops ``model`` from answering (empty: ready)."""
    problems = list(st.pdf_sets.problems.values())
    if model == "jpsi-surrogate" and st.surrogate is None:
        problems += st.surrogate_reasons() or ["the surrogate is not loaded"]
    return problems


def _model(name: str, version: str | None) -> None:
    if name not in v2.MODELS:
        raise v2.V2Error(f"unknown model {name[:64]!r}; models: {', '.join(v2.MODELS)}", 404)
    if version is not None and version != v2.VERSION:
        raise v2.V2Error(f"model {name} has no version {version[:20]!r}; versions: 1", 404)


@router.get(
    "/health/live",
    responses={200: {"description": '{"live": true}'}},
    tags=OPS,
    summary="V2: is the server live?",
)
async def live() -> Response:
    """Open Inference Protocol: the server process is up and answering."""
    return _json({"live": True})


@router.get(
    "/health/ready",
    responses={503: {"description": '{"ready": false}'}},
    tags=OPS,
    summary="V2: can every model answer?",
)
async def ready(request: Request) -> Response:
    """Open Inference Protocol: 200 and {"ready": true} when jpsi-exact and jpsi-surrogate
    can both answer, 503 and false otherwise."""
    st: ServiceState = request.app.state.jpsi
    ok = not any(_ready(st, m) for m in v2.MODELS)
    return _json({"ready": ok}, 200 if ok else 503)


@router.get("", tags=OPS, summary="V2: server metadata")
async def server_metadata(request: Request) -> Response:
    """Open Inference Protocol: the server's name, version and the protocol extensions it
    supports (binary_tensor_data)."""
    return _json(
        {
            "name": request.app.title,
            "version": request.app.version,
            "extensions": [v2.BINARY_EXTENSION],
        }
    )


async def _metadata(name: str, version: str | None) -> Response:
    try:
        _model(name, version)
    except v2.V2Error as exc:
        return error(exc)
    return _json(v2.model_metadata(name))


async def _model_ready(request: Request, name: str, version: str | None) -> Response:
    try:
        _model(name, version)
    except v2.V2Error as exc:
        return error(exc)
    ok = not _ready(request.app.state.jpsi, name)
    return _json({"name": name, "ready": ok}, 200 if ok else 503)


@router.get("/models/{name}", responses={404: ERROR}, tags=PREDICT, summary="V2: model metadata")
async def model_metadata(name: str) -> Response:
    """Open Inference Protocol: the inputs (x, z, Q, PT: FP64) and outputs (valid: BOOL; y
    and the ten outputs: FP64) of jpsi-exact or jpsi-surrogate, 1-D tensors of shape [-1]."""
    return await _metadata(name, None)


@router.get(
    "/models/{name}/versions/{version}",
    responses={404: ERROR},
    tags=PREDICT,
    summary="V2: model metadata (a version)",
)
async def model_version_metadata(name: str, version: str) -> Response:
    """Open Inference Protocol: as /v2/models/{name}; each model has the one version "1"."""
    return await _metadata(name, version)


@router.get(
    "/models/{name}/ready",
    responses={404: ERROR, 503: ERROR},
    tags=PREDICT,
    summary="V2: can this model answer?",
)
async def model_ready(request: Request, name: str) -> Response:
    """Open Inference Protocol: 200 when the model can answer now (its PDF set, and for
    jpsi-surrogate its ONNX artifact, loaded), 503 otherwise."""
    return await _model_ready(request, name, None)


@router.get(
    "/models/{name}/versions/{version}/ready",
    responses={404: ERROR, 503: ERROR},
    tags=PREDICT,
    summary="V2: can this model version answer?",
)
async def model_version_ready(request: Request, name: str, version: str) -> Response:
    """Open Inference Protocol: as /v2/models/{name}/ready; the one version is "1"."""
    return await _model_ready(request, name, version)


async def _infer(request: Request, name: str, version: str | None) -> Response:
    st: ServiceState = request.app.state.jpsi
    settings = request.app.state.settings
    try:
        _model(name, version)
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding != "identity":
            raise v2.V2Error(f"Content-Encoding {encoding[:40]!r} is not accepted", 415)
        if name == "jpsi-surrogate" and st.surrogate is None:
            raise Unavailable("the surrogate model is not loaded", st.surrogate_reasons())
        body = await request.body()
        header_length = request.headers.get(v2.HEADER_LENGTH)

        limit = settings.max_arrow_rows
        if len(body) < OFFLOAD_BYTES:
            req = v2.parse(body, header_length, name, limit)
        else:
            req = await run_in_threadpool(v2.parse, body, header_length, name, limit)
        del body
        kind = v2.MODELS[name]

        def work() -> tuple[object, int | None, int]:
            names = v2.names_needed(req.outputs)
            try:
                fn, _ = bulk.engine(kind, req.params.sqrt_s, names, st, req.params.theory)
            except RequestValidationError as exc:  # an unknown PDF set
                raise v2.V2Error(f"parameters: {exc.errors()[0]['msg']}") from None
            answer = bulk.gather(bulk.chunks(fn, req.columns))
            out, length = v2.encode(name, req, answer)
            return out, length, int(answer.valid.size)

        rows = req.columns["x"].size
        cost = bulk_cost(kind, rows)
        out, length, n = await run_small_inline(st.admission, request.scope, cost, rows, work)
    except v2.V2Error as exc:
        return error(exc)
    except Unavailable as exc:
        return error(v2.V2Error(f"{exc.detail}: {'; '.join(exc.reasons)}", 503))
    except HTTPException as exc:  # admission: 503 busy (Retry-After) or 413 too large alone
        body = v2.V2Error(str(exc.detail)).body()
        return Response(body, exc.status_code, exc.headers, media_type="application/json")
    st.metrics.points.labels(v2.MODELS[name]).inc(n)
    if length is None:
        return Response(out, media_type="application/json")
    return Response(
        b"".join(out),  # type: ignore[arg-type]
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(length)},
    )


@router.post(
    "/models/{name}/infer",
    responses={400: ERROR, 404: ERROR, 413: ERROR, 503: ERROR},
    openapi_extra=INFER_BODY,
    tags=PREDICT,
    summary="V2: cross sections of FP64 tensors (exact or surrogate)",
)
async def infer(request: Request, name: str) -> Response:
    """Evaluate the model on FP64 tensors x, z, Q (GeV), PT (GeV); parameters sqrt_s (GeV)
    and, for jpsi-exact, pdf_set, quarks, ldme_set, ldme.<name>. Outputs valid (BOOL), y and
    one FP64 tensor per output (pb/GeV⁴, NaN where not valid). Binary tensor data
    extension: send the header Inference-Header-Content-Length; ask binary outputs with
    binary_data."""
    return await _infer(request, name, None)


@router.post(
    "/models/{name}/versions/{version}/infer",
    responses={400: ERROR, 404: ERROR, 413: ERROR, 503: ERROR},
    openapi_extra=INFER_BODY,
    tags=PREDICT,
    summary="V2: cross sections of FP64 tensors (a version)",
)
async def infer_version(request: Request, name: str, version: str) -> Response:
    """Open Inference Protocol: as /v2/models/{name}/infer; the one version is "1"."""
    return await _infer(request, name, version)
