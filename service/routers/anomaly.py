"""POST /v1/anomaly: scores for submitted points and the values that came with them."""

from __future__ import annotations

import numpy as np
import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from service import bulk
from service.admission import estimate, run_admitted
from service.errors import Unavailable, invalid
from service.routers.base import JSONBytes, State
from service.routers.bulk import (
    ARROW_BODY,
    BulkRoute,
    anomaly_arrow,
    arrow_response,
    sigma_from_columns,
    takes_arrow,
    wants_arrow,
)
from service.routers.explain import points_array
from service.schemas.anomaly import AnomalyRequest, AnomalyResponse
from service.schemas.columns import AnomalyColumnsResponse
from service.schemas.common import PROBLEM_RESPONSES, Problem

router = APIRouter(prefix="/v1", tags=["explanations"], route_class=BulkRoute)

ANOMALY_ARROW = {
    "content": {
        bulk.ARROW_STREAM: {
            "schema": {
                "type": "string",
                "format": "binary",
                "description": "Arrow IPC stream: score, is_anomaly, one float64 column per "
                "component, reasons; schema metadata threshold. See docs/wire.md.",
            }
        }
    }
}

RESPONSES = {
    **PROBLEM_RESPONSES,
    503: {"model": Problem, "description": "Anomaly model not loaded."},
}


@router.post(
    "/anomaly",
    response_model=AnomalyResponse | AnomalyColumnsResponse,
    responses={**RESPONSES, 200: ANOMALY_ARROW},
    openapi_extra=ARROW_BODY,
    summary="How unusual are these points? (anomaly scores)",
)
@takes_arrow(anomaly_arrow())
async def anomaly(body: AnomalyRequest, st: State, request: Request) -> Response:
    """A score in [0, 1] per point (higher = more anomalous) with the components and
    reasons that fired: values inconsistent with the theory, unphysical or rare kinematics.
    Submitted σ values are in pb/GeV⁴; Q and P_T in GeV. ``columns`` instead of ``points``
    (observed values as columns ``sigma.<output>``): the answer is by column; an Arrow IPC
    stream in (or ``Accept: application/vnd.apache.arrow.stream``): an Arrow stream out."""
    if st.anomaly is None:
        raise Unavailable("the anomaly model is not loaded", st.artifact_reasons("anomaly"))
    scorer = st.anomaly
    arrow = wants_arrow(request)

    def by_columns() -> bytes | memoryview:
        c = body.columns
        X = np.column_stack([c.x, c.z, c.Q, c.PT])
        try:
            results = scorer.score(X, sqrt_s=body.sqrt_s, sigma=sigma_from_columns(c))
        except ValueError as exc:
            raise invalid(["body"], str(exc)) from exc
        part = bulk.anomaly_part(results)
        if arrow:
            return memoryview(bulk.write_anomaly_arrow(iter([(0, part)]), scorer.threshold))
        return bulk.anomaly_json(part, float(scorer.threshold))

    def by_points() -> bytes | memoryview:
        sigma = [p.get("sigma") for p in body.points]
        try:
            results = scorer.score(
                points_array(body.points),
                sqrt_s=body.sqrt_s,
                sigma=sigma if any(s is not None for s in sigma) else None,
            )
        except ValueError as exc:
            raise invalid(["body"], str(exc)) from exc
        if arrow:
            part = bulk.anomaly_part(results)
            return memoryview(bulk.write_anomaly_arrow(iter([(0, part)]), scorer.threshold))
        out = {"threshold": float(scorer.threshold), "results": results}
        return orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY)

    n = len(body.columns.x) if body.columns is not None else len(body.points)
    work = by_columns if body.columns is not None else by_points
    out = await run_admitted(st.admission, request.scope, estimate("anomaly", n), work)
    st.metrics.points.labels("anomaly").inc(n)
    if isinstance(out, memoryview):
        return arrow_response(out)
    return JSONBytes(out)
