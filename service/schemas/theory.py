"""Theory variations: the ``uncertainty`` request field, the ``band`` of a result, and
GET /v1/theory (docs/theory.md; physics in ``physics.variations``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

import physics
from physics.ldme import DEFAULT_LDME_SET, REGISTRY
from physics.variations import SCALE_CHOICES
from service.schemas.common import Finite, Output, PointResult

MAX_LDME_SETS = 16
MAX_PDF_SETS = 8

SignedLdme = Annotated[Finite, Field(description="Finite; negative values allowed.")]

LdmeSetName = Annotated[
    str,
    # documented as an enum, so that a schema-valid request names a registered set; the
    # check itself is service.bands.resolve's (a 422 naming the entry)
    Field(max_length=100, json_schema_extra={"enum": list(REGISTRY)}),
]


class LdmeSetModel(BaseModel):
    """An LDME set given in the request (any published fit): all four values."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=100, description="A label for the set.", examples=["my_fit"])
    O3S1_8: SignedLdme = Field(description="⟨O(³S₁[8])⟩ in GeV³.")
    O3S1_1: SignedLdme = Field(description="⟨O(³S₁[1])⟩ in GeV³.")
    O1S0_8: SignedLdme = Field(description="⟨O(¹S₀[8])⟩ in GeV³.")
    O3P0_8: SignedLdme = Field(description="⟨O(³P₀[8])⟩ in GeV⁵ (not divided by m_c²).")


LdmeSetRef = Annotated[
    LdmeSetName | LdmeSetModel,
    Field(description="A registered set's name (GET /v1/theory) or a set given by value."),
]


class UncertaintyModel(BaseModel):
    """Which theory variations to evaluate; each given source adds its envelope."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "ldme_sets": [DEFAULT_LDME_SET],
                    "scales": "7-point",
                    "pdf_sets": ["NNPDF31_lo_as_0130"],
                }
            ]
        },
    )

    ldme_sets: list[LdmeSetRef] | None = Field(
        None, max_length=MAX_LDME_SETS, description="LDME sets: their envelope is the LDME band."
    )
    scales: Literal[tuple(SCALE_CHOICES)] | None = Field(  # type: ignore[valid-type]
        None,
        description="Scale variations: '7-point' (ξ_R, ξ_F) or '3-point' (ξ_R = ξ_F), "
        "ξ ∈ {½, 1, 2}; μ_R = ξ_R·M and ξ_R·30 GeV, μ_F = ξ_F·Q.",
    )
    pdf_sets: list[Annotated[str, Field(max_length=200)]] | None = Field(
        None, max_length=MAX_PDF_SETS, description="Installed PDF sets (central members)."
    )


class SourceBand(BaseModel):
    lo: dict[Output, float | list[float]]
    hi: dict[Output, float | list[float]]


class Band(BaseModel):
    """Envelope of a result (lo ≤ σ ≤ hi), units of σ; lists (one per P_T) for bins."""

    lo: dict[Output, float | list[float]] = Field(description="Sources combined in quadrature.")
    hi: dict[Output, float | list[float]] = Field(description="Sources combined in quadrature.")
    sources: dict[Literal["ldme", "scale", "pdf"], SourceBand] = Field(
        description="Each requested source's own envelope."
    )


class LdmeSetInfo(BaseModel):
    name: str
    values: dict[str, float]
    units: dict[str, str]
    source: str = Field(description="arXiv id and table.")
    note: str
    conversions: dict[str, str] = Field(description="How a stored value was converted.")


class TheoryInfo(BaseModel):
    """What a client can vary (GET /v1/theory)."""

    ldme_sets: list[LdmeSetInfo]
    default_ldme_set: str = Field(examples=[DEFAULT_LDME_SET])
    scale_variations: list[str] = Field(examples=[list(SCALE_CHOICES)])
    pdf_sets: list[str] = Field(description="Installed PDF sets (LHAPDF6 names).")
    default_pdf_set: str = Field(examples=[physics.DEFAULT_PDF_SET])


class BandedPointResult(PointResult):
    band: Band | None = Field(
        None,
        description="Only with 'uncertainty', on valid points (null otherwise): the envelope "
        "in pb/GeV⁴. Flags scale_band_incomplete / pdf_band_incomplete mark points where a "
        "variation left the PDF grid and was left out; negative_total a negative total.",
    )


def document_pdf_sets(schemas: dict, pdf_sets: list[str]) -> None:
    """OpenAPI: the items of ``uncertainty.pdf_sets`` are the installed sets (an enum)."""
    field = schemas.get("UncertaintyModel", {}).get("properties", {}).get("pdf_sets", {})
    for branch in field.get("anyOf", [field]):
        if branch.get("type") == "array" and pdf_sets:
            branch["items"]["enum"] = pdf_sets
