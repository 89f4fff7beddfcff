"""POST /v1/pdf: x·f(x, Q) as the exact engine uses it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict

import physics
from service.schemas.common import Finite, PdfSetName

Flavour = Literal[-6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 21]
DEFAULT_FLAVOURS: list[Flavour] = [21, -3, -2, -1, 1, 2, 3]


class PdfPoint(TypedDict):
    x: Annotated[Finite, Field(description="Momentum fraction x.", examples=[0.1])]
    Q: Annotated[Finite, Field(description="Scale Q in GeV.", examples=[10.0])]


class PdfRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "pdf_set": physics.DEFAULT_PDF_SET,
                    "points": [{"x": 0.1, "Q": 10.0}],
                    "flavours": [21, 2, 1],
                }
            ]
        },
    )

    pdf_set: PdfSetName = physics.DEFAULT_PDF_SET
    points: list[PdfPoint] = Field(description="(x, Q) points, at most 10 000 by default.")
    flavours: list[Flavour] = Field(
        DEFAULT_FLAVOURS, min_length=1, description="PDG ids: 21 gluon, 1..6 d u s c b t, <0 anti."
    )


class PdfResult(BaseModel):
    x: float
    Q: float
    valid: bool = Field(description="False when (x, Q) is off the PDF grid (no extrapolation).")
    xf: dict[str, float] | None = Field(description="x·f per flavour id (as a string).")
    errors: list[str]


class PdfResponse(BaseModel):
    pdf_set: str
    results: list[PdfResult]
