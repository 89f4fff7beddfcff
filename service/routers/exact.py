"""POST /v1/exact and /v1/exact/binned: the exact engine."""

from __future__ import annotations

from fastapi import APIRouter, Request

from service import compute
from service.admission import estimate, run_admitted
from service.bands import band_factor
from service.routers.base import JSONBytes, OrjsonRoute, State
from service.schemas.binned import BinnedRequest, BinnedResponse
from service.schemas.common import PROBLEM_RESPONSES
from service.schemas.exact import ExactRequest, ExactResponse

router = APIRouter(prefix="/v1/exact", tags=["predictions"], route_class=OrjsonRoute)


@router.post(
    "",
    response_model=ExactResponse,
    responses=PROBLEM_RESPONSES,
    summary="Cross sections at points (exact engine)",
)
async def exact(body: ExactRequest, st: State, request: Request) -> JSONBytes:
    """All eight channels and the totals at each point, from the exact engine: the fully
    differential dσ/(dx dz dQ² dP_T²) in pb/GeV⁴, with Q and P_T in GeV and √s in GeV.
    Unphysical points are answered in place with ``valid: false`` and the reasons. With
    ``uncertainty``, each valid result carries its theory ``band`` (docs/theory.md)."""
    cost = estimate("exact", len(body.points) * band_factor(body.uncertainty))
    out = await run_admitted(
        st.admission, request.scope, cost, compute.exact_points,
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
