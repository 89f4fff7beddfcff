"""POST /v1/anomaly: scores for submitted points and the values that came with them."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request

from service.admission import estimate, run_admitted
from service.errors import Unavailable, invalid
from service.routers.base import JSONBytes, OrjsonRoute, State
from service.routers.explain import points_array
from service.schemas.anomaly import AnomalyRequest, AnomalyResponse
from service.schemas.common import PROBLEM_RESPONSES, Problem

router = APIRouter(prefix="/v1", tags=["explanations"], route_class=OrjsonRoute)

RESPONSES = {
    **PROBLEM_RESPONSES,
    503: {"model": Problem, "description": "Anomaly model not loaded."},
}


@router.post(
    "/anomaly",
    response_model=AnomalyResponse,
    responses=RESPONSES,
    summary="How unusual are these points? (anomaly scores)",
)
async def anomaly(body: AnomalyRequest, st: State, request: Request) -> JSONBytes:
    """A score in [0, 1] per point (higher = more anomalous) with the components and
    reasons that fired: values inconsistent with the theory, unphysical or rare kinematics.
    Submitted σ values are in pb/GeV⁴; Q and P_T in GeV."""
    if st.anomaly is None:
        raise Unavailable("the anomaly model is not loaded", st.artifact_reasons("anomaly"))
    scorer = st.anomaly

    def work() -> bytes:
        sigma = [p.get("sigma") for p in body.points]
        try:
            results = scorer.score(
                points_array(body.points),
                sqrt_s=body.sqrt_s,
                sigma=sigma if any(s is not None for s in sigma) else None,
            )
        except ValueError as exc:
            raise invalid(["body"], str(exc)) from exc
        out = {"threshold": float(scorer.threshold), "results": results}
        return orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY)

    out = await run_admitted(
        st.admission, request.scope, estimate("anomaly", len(body.points)), work
    )
    st.metrics.points.labels("anomaly").inc(len(body.points))
    return JSONBytes(out)
