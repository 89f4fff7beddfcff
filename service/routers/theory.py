"""GET /v1/theory: what a client can vary (LDME sets, scale schemes, PDF sets)."""

from __future__ import annotations

from fastapi import APIRouter

from physics.ldme import DEFAULT_LDME_SET, REGISTRY
from physics.variations import SCALE_CHOICES
from service.routers.base import State
from service.schemas.theory import TheoryInfo

router = APIRouter(prefix="/v1", tags=["predictions"])


@router.get(
    "/theory",
    response_model=TheoryInfo,
    summary="What a theory band can vary (LDME sets, scales, PDF sets)",
)
def theory(st: State) -> TheoryInfo:
    """The registered LDME sets (values, units, source, note), the scale-variation schemes
    and the installed PDF sets, each usable in a request's ``uncertainty``."""
    return TheoryInfo(
        ldme_sets=[s.describe() for s in REGISTRY.values()],
        default_ldme_set=DEFAULT_LDME_SET,
        scale_variations=list(SCALE_CHOICES),
        pdf_sets=st.pdf_sets.installed,
        default_pdf_set=st.pdf_sets.default,
    )


router.add_api_route("/theory", theory, methods=["HEAD"], include_in_schema=False)
