"""POST /v1/exact: the exact engine at points."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

import physics
from physics.constants import SQRT_S_DEFAULT
from service.schemas.columns import (
    EXAMPLE_COLUMNS,
    ONE_OF,
    ColumnsAnswer,
    PointsOrColumns,
)
from service.schemas.common import EXAMPLE_POINT, PdfSetName
from service.schemas.theory import BandedPointResult, LdmeSetName, UncertaintyModel

_D = physics.LDME()

# finite, of either sign: some published fits have a negative colour-octet element
LdmeValue = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class LdmeModel(BaseModel):
    """Long-distance matrix elements; each defaults to physics.md (Chao et al. 2012)."""

    model_config = ConfigDict(extra="forbid")

    O3S1_8: LdmeValue = Field(_D.O3S1_8, description="⟨O(³S₁[8])⟩ in GeV³.")
    O3S1_1: LdmeValue = Field(_D.O3S1_1, description="⟨O(³S₁[1])⟩ in GeV³.")
    O1S0_8: LdmeValue = Field(_D.O1S0_8, description="⟨O(¹S₀[8])⟩ in GeV³.")
    O3P0_8: LdmeValue = Field(_D.O3P0_8, description="⟨O(³P₀[8])⟩ in GeV⁵.")


class Theory(BaseModel):
    """Theory choices; every field optional, defaults from physics.md."""

    model_config = ConfigDict(extra="forbid")

    pdf_set: PdfSetName = physics.DEFAULT_PDF_SET
    quarks: Literal["full", "ud"] = Field(
        "full", description="'full': u, ū, d, d̄, s, s̄; 'ud': u and d only (original study)."
    )
    ldme: LdmeModel = Field(default_factory=LdmeModel)
    ldme_set: LdmeSetName | None = Field(
        None,
        description="A registered LDME set (GET /v1/theory) as the central LDMEs; values "
        "given in 'ldme' override it field by field.",
        examples=["Chao2012"],
    )


class ExactRequest(PointsOrColumns):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            **ONE_OF,
            "examples": [
                {"points": [EXAMPLE_POINT], "sqrt_s": SQRT_S_DEFAULT, "channels": ["total_U"]},  # type: ignore[list-item]
                {"columns": EXAMPLE_COLUMNS, "sqrt_s": SQRT_S_DEFAULT, "channels": ["total_U"]},
            ],
        },
    )

    theory: Theory | None = None
    uncertainty: UncertaintyModel | None = Field(
        None,
        description="Theory variations: adds a 'band' to every valid result (with points "
        "only, not with columns).",
    )


class ExactResponse(BaseModel):
    units: Literal["pb/GeV^4"] = "pb/GeV^4"
    sqrt_s: float
    theory: Theory = Field(description="The resolved theory: every default filled in.")
    results: list[BandedPointResult]


class ExactColumnsResponse(ColumnsAnswer):
    """The answer to a request with ``columns``."""

    theory: Theory = Field(description="The resolved theory: every default filled in.")
