"""POST /v1/explain: exact Shapley values of log10 σ over (x, z, Q, P_T)."""

from __future__ import annotations

import numpy as np
import orjson
from fastapi import APIRouter, Request

from runtime.features import KINEMATIC_FEATURES
from service import compute
from service.admission import estimate, run_admitted
from service.errors import Unavailable, invalid
from service.routers.base import JSONBytes, OrjsonRoute, State
from service.schemas.common import PROBLEM_RESPONSES, Problem
from service.schemas.explain import ExplainRequest, ExplainResponse

router = APIRouter(prefix="/v1", tags=["explanations"], route_class=OrjsonRoute)

RESPONSES = {
    **PROBLEM_RESPONSES,
    503: {"model": Problem, "description": "Background or surrogate not loaded."},
}


def points_array(points) -> np.ndarray:
    """Request points as an [n, 4] float array (x, z, Q, P_T)."""
    return np.column_stack(compute.columns(points, KINEMATIC_FEATURES)).reshape(-1, 4)


@router.post(
    "/explain",
    response_model=ExplainResponse,
    responses=RESPONSES,
    summary="Why is σ this big? (Shapley values)",
)
async def explain(body: ExplainRequest, st: State, request: Request) -> JSONBytes:
    """Why is σ this big? Shapley values of log10 σ(target) for x, z, Q and P_T against a
    background sample of the training domain (√s held fixed); base_value + Σ shap =
    prediction for every valid point. Values are in decades of σ (log10 of pb/GeV⁴);
    Q and P_T in GeV."""
    if st.explainer is None:
        raise Unavailable(
            "the explanation background is not loaded", st.artifact_reasons("explain")
        )
    if body.model == "surrogate" and st.surrogate is None:
        raise Unavailable("the surrogate model is not loaded", st.surrogate_reasons())
    explainer = st.explainer

    def work() -> bytes:
        try:
            out = explainer.explain(
                points_array(body.points), target=body.target, model=body.model, sqrt_s=body.sqrt_s
            )
        except ValueError as exc:
            raise invalid(["body"], str(exc)) from exc
        return orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY)

    out = await run_admitted(
        st.admission, request.scope, estimate("explain", len(body.points)), work
    )
    st.metrics.points.labels("explain").inc(len(body.points))
    return JSONBytes(out)
