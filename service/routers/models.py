"""GET /v1/models: the artifact sets and PDF sets."""

from __future__ import annotations

from fastapi import APIRouter

from service.routers.base import State
from service.schemas.models import ModelsResponse

router = APIRouter(prefix="/v1", tags=["operations"])


@router.get(
    "/models", response_model=ModelsResponse, summary="Loaded models and installed PDF sets"
)
def models(st: State) -> ModelsResponse:
    """Every artifact set found (loaded or failed, with the reason), required sets missing,
    and the installed PDF sets."""
    return ModelsResponse(
        artifacts=[a.describe() for a in st.registry.artifacts.values()],
        missing=st.registry.missing,
        pdf_sets=st.pdf_sets.installed,
    )


router.add_api_route("/models", models, methods=["HEAD"], include_in_schema=False)
