"""POST /v1/exact and /v1/exact/binned: the exact engine."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from service import bulk, compute
from service.admission import estimate, run_admitted
from service.bands import band_factor
from service.errors import invalid
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
from service.schemas.binned import BinnedRequest, BinnedResponse
from service.schemas.common import PROBLEM_RESPONSES
from service.schemas.exact import ExactColumnsResponse, ExactRequest, ExactResponse

router = APIRouter(prefix="/v1/exact", tags=["predictions"], route_class=BulkRoute)


@router.post(
    "",
    response_model=ExactResponse | ExactColumnsResponse,
    responses={**PROBLEM_RESPONSES, 200: ARROW_ANSWER},
    openapi_extra=ARROW_BODY,
    summary="Cross sections at points (exact engine)",
)
@takes_arrow(arrow_endpoint("exact"))
async def exact(body: ExactRequest, st: State, request: Request) -> Response:
    """All eight channels and the totals at each point, from the exact engine: the fully
    differential dσ/(dx dz dQ² dP_T²) in pb/GeV⁴, with Q and P_T in GeV and √s in GeV.
    Unphysical points are answered in place with ``valid: false`` and the reasons. With
    ``uncertainty``, each valid result carries its theory ``band`` (docs/theory.md).
    ``columns`` instead of ``points``: the answer is by column; an Arrow IPC stream in (or
    ``Accept: application/vnd.apache.arrow.stream``): an Arrow stream out."""
    if body.columns is not None or wants_arrow(request):
        if body.uncertainty is not None:
            msg = "uncertainty bands are answered with points in JSON only, not by column"
            raise invalid(["body", "uncertainty"], msg)
        p = bulk.BulkParams(sqrt_s=body.sqrt_s, channels=body.channels, theory=body.theory)
        return await answer_admitted("exact", body, p, st, request)
    work = len(body.points) * band_factor(body.uncertainty)  # bands: the engine many times
    out = await run_small_inline(
        st.admission, request.scope, estimate("exact", work), work, compute.exact_points,
        body.points, body.sqrt_s, body.channels, body.theory, st.pdf_sets, body.uncertainty,
    )  # fmt: skip
    st.metrics.points.labels("exact").inc(len(body.points))
    return JSONBytes(out)


@router.post(
    "/binned",
    response_model=BinnedResponse,
    responses=PROBLEM_RESPONSES,
    summary="P_T spectra in bins of x, z and Q (exact engine)",
)
async def exact_binned(body: BinnedRequest, st: State, request: Request) -> JSONBytes:
    """dσ/dP_T² in pb/GeV² at each P_T (GeV), integrated over x, z and Q² in the physical
    part of each bin (Q edges in GeV); a bin with no physical part has σ = 0 and
    ``physical: false``. With ``uncertainty``, each bin carries its theory ``band``."""
    factor = band_factor(body.uncertainty)
    cost = estimate(
        "binned_cell", len(body.bins) * len(body.PT) * factor, per_bin=len(body.bins) * factor
    )
    out = await run_admitted(
        st.admission, request.scope, cost, compute.exact_binned,
        body.bins, body.PT, body.sqrt_s, body.channels, body.theory, st.pdf_sets,
        body.uncertainty,
    )  # fmt: skip
    st.metrics.points.labels("exact_binned").inc(len(body.bins) * len(body.PT))
    return JSONBytes(out)
