"""POST /v1/pdf: the parton distributions the exact engine uses."""

from __future__ import annotations

from fastapi import APIRouter, Request

from service import compute
from service.admission import estimate, run_admitted
from service.routers.base import JSONBytes, OrjsonRoute, State
from service.schemas.common import PROBLEM_RESPONSES
from service.schemas.pdf import PdfRequest, PdfResponse

router = APIRouter(prefix="/v1", tags=["predictions"], route_class=OrjsonRoute)


@router.post(
    "/pdf",
    response_model=PdfResponse,
    responses=PROBLEM_RESPONSES,
    summary="Parton distributions x·f(x, Q)",
)
async def pdf(body: PdfRequest, st: State, request: Request) -> JSONBytes:
    """x·f(x, Q) per flavour (PDG id; dimensionless) at Q in GeV, interpolated as LHAPDF
    does; no extrapolation off the grid."""
    pdf_set = body.pdf_set if "pdf_set" in body.model_fields_set else None
    cost = estimate("pdf", len(body.points) * max(1, len(body.flavours)))
    out = await run_admitted(
        st.admission, request.scope, cost, compute.pdf_values,
        pdf_set, body.points, body.flavours, st.pdf_sets,
    )  # fmt: skip
    st.metrics.points.labels("pdf").inc(len(body.points))
    return JSONBytes(out)
