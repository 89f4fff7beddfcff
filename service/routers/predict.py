"""POST /v1/predict: the ONNX surrogate."""

from __future__ import annotations

from fastapi import APIRouter, Request

from service import compute
from service.admission import estimate, run_admitted
from service.errors import Unavailable
from service.routers.base import JSONBytes, OrjsonRoute, State
from service.schemas.common import PROBLEM_RESPONSES, Problem
from service.schemas.predict import PredictRequest, PredictResponse

router = APIRouter(prefix="/v1", tags=["predictions"], route_class=OrjsonRoute)

RESPONSES = {**PROBLEM_RESPONSES, 503: {"model": Problem, "description": "No usable surrogate."}}


@router.post(
    "/predict",
    response_model=PredictResponse,
    responses=RESPONSES,
    summary="Cross sections at points (fast surrogate)",
)
async def predict(body: PredictRequest, st: State, request: Request) -> JSONBytes:
    """The ONNX surrogate's cross sections dσ/(dx dz dQ² dP_T²) at each point, in pb/GeV⁴
    (Q, P_T and √s in GeV): microseconds per point instead of the exact engine's
    integrals. Points outside its training domain are answered with the flag
    ``outside_training_domain``."""
    if st.surrogate is None:
        raise Unavailable("the surrogate model is not loaded", st.surrogate_reasons())
    cost = estimate("predict", len(body.points))
    out = await run_admitted(
        st.admission, request.scope, cost, compute.predict_points,
        body.points, body.sqrt_s, body.channels, st.surrogate,
    )  # fmt: skip
    st.metrics.points.labels("predict").inc(len(body.points))
    return JSONBytes(out)
