"""GET /healthz, /readyz and /metrics: for orchestrators and scrapers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from service.routers.base import State
from service.schemas.health import Health, Readiness

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="Liveness probe")
async def healthz() -> Health:
    """The process is up and answering."""
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness probe",
    responses={503: {"model": Readiness, "description": "Not ready, with the reasons."}},
)
async def readyz(response: Response, st: State) -> Readiness:
    """200 only when the PDF set and every artifact are loaded with verified checksums."""
    reasons = st.reasons()
    if reasons:
        response.status_code = 503
        return Readiness(status="not ready", reasons=reasons)
    return Readiness(status="ready", reasons=[])


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics",
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(request: Request) -> Response:
    """Prometheus text format: requests and latency per route template, points evaluated."""
    body = generate_latest(request.app.state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


# HEAD as probes and link checkers send it (uvicorn sends the headers of the GET answer
# without its body); not listed in the OpenAPI document
for _path, _endpoint in (("/healthz", healthz), ("/readyz", readyz), ("/metrics", metrics)):
    router.add_api_route(_path, _endpoint, methods=["HEAD"], include_in_schema=False)
