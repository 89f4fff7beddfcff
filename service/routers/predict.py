"""POST /v1/predict: the ONNX surrogate."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from service import bulk, compute
from service.admission import estimate
from service.errors import Unavailable
from service.routers.base import JSONBytes, State
from service.routers.bulk import (
    ARROW_ANSWER,
    ARROW_BODY,
    BulkRoute,
    answer_admitted,
    arrow_endpoint,
    run_small_inline,
    takes_arrow,
    wants_arrow,
)
from service.schemas.common import PROBLEM_RESPONSES, Problem
from service.schemas.predict import PredictColumnsResponse, PredictRequest, PredictResponse

router = APIRouter(prefix="/v1", tags=["predictions"], route_class=BulkRoute)

RESPONSES = {**PROBLEM_RESPONSES, 503: {"model": Problem, "description": "No usable surrogate."}}


@router.post(
    "/predict",
    response_model=PredictResponse | PredictColumnsResponse,
    responses={**RESPONSES, 200: ARROW_ANSWER},
    openapi_extra=ARROW_BODY,
    summary="Cross sections at points (fast surrogate)",
)
@takes_arrow(arrow_endpoint("predict"))
async def predict(body: PredictRequest, st: State, request: Request) -> Response:
    """The ONNX surrogate's cross sections dσ/(dx dz dQ² dP_T²) at each point, in pb/GeV⁴
    (Q, P_T and √s in GeV): microseconds per point instead of the exact engine's
    integrals. Points outside its training domain are answered with the flag
    ``outside_training_domain``. ``columns`` instead of
    ``points``: the answer is by column; an Arrow IPC stream in (or ``Accept:
    application/vnd.apache.arrow.stream``): an Arrow stream out."""
    if st.surrogate is None:
        raise Unavailable("the surrogate model is not loaded", st.surrogate_reasons())
    if body.columns is not None or wants_arrow(request):
        p = bulk.BulkParams(sqrt_s=body.sqrt_s, channels=body.channels)
        return await answer_admitted("predict", body, p, st, request)
    n = len(body.points)
    out = await run_small_inline(
        st.admission, request.scope, estimate("predict", n), n, compute.predict_points,
        body.points, body.sqrt_s, body.channels, st.surrogate,
    )  # fmt: skip
    st.metrics.points.labels("predict").inc(len(body.points))
    return JSONBytes(out)
