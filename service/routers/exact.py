"""POST /v1/exact and /v1/exact/binned: the exact engine."""

from __future__ import annotations

from fastapi import APIRouter, Request

from service import compute
from service.admission import estimate, run_admitted
from service.routers.base import JSONBytes, OrjsonRoute, State
from service.schemas.binned import BinnedRequest, BinnedResponse
from service.schemas.common import PROBLEM_RESPONSES
from service.schemas.exact import ExactRequest, ExactResponse

router = APIRouter(prefix="/v1/exact", tags=["exact"], route_class=OrjsonRoute)


@router.post("", response_model=ExactResponse, responses=PROBLEM_RESPONSES)
async def exact(body: ExactRequest, st: State, request: Request) -> JSONBytes:
    """All eight channels and the totals at each point (pb/GeV⁴), from the exact engine."""
    cost = estimate("exact", len(body.points))
    out = await run_admitted(
        st.admission, request.scope, cost, compute.exact_points,
        body.points, body.sqrt_s, body.channels, body.theory, st.pdf_sets,
    )  # fmt: skip
    st.metrics.points.labels("exact").inc(len(body.points))
    return JSONBytes(out)


@router.post("/binned", response_model=BinnedResponse, responses=PROBLEM_RESPONSES)
async def exact_binned(body: BinnedRequest, st: State, request: Request) -> JSONBytes:
    """dσ/dP_T² (pb/GeV²) integrated over x, z and Q² in the physical part of each bin."""
    cost = estimate("binned_cell", len(body.bins) * len(body.PT), per_bin=len(body.bins))
    out = await run_admitted(
        st.admission, request.scope, cost, compute.exact_binned,
        body.bins, body.PT, body.sqrt_s, body.channels, body.theory, st.pdf_sets,
    )  # fmt: skip
    st.metrics.points.labels("exact_binned").inc(len(body.bins) * len(body.PT))
    return JSONBytes(out)
