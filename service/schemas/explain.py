"""POST /v1/explain: Shapley values of log10 σ over the kinematic features."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from physics.constants import SQRT_S_DEFAULT
from runtime.shapley import MAX_POINTS
from service.schemas.common import EXAMPLE_POINT, Output, Point, SqrtS

MAX_EXPLAIN_POINTS = MAX_POINTS


class ExplainRequest(BaseModel):
    """Explain log10 σ(target) at each point; √s is held at the request's value."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "points": [EXAMPLE_POINT],
                    "target": "total_U",
                    "model": "exact",
                    "sqrt_s": SQRT_S_DEFAULT,
                }
            ]
        },
    )

    points: list[Point] = Field(
        min_length=1,
        max_length=MAX_EXPLAIN_POINTS,
        description=f"Kinematic points to explain (at most {MAX_EXPLAIN_POINTS}).",
    )
    target: Output = Field(
        "total_U", description="Output whose log10 σ (σ in pb/GeV⁴) is explained."
    )
    model: Literal["exact", "surrogate"] = Field(
        "exact", description="'exact': the exact engine; 'surrogate': the ONNX surrogate."
    )
    sqrt_s: SqrtS = SQRT_S_DEFAULT


class Shap(BaseModel):
    """Contribution of each feature to log10 σ, in decades (dex)."""

    x: float = Field(description="Contribution of Bjorken x (dex).")
    z: float = Field(description="Contribution of z (dex).")
    Q: float = Field(description="Contribution of Q (dex).")
    PT: float = Field(description="Contribution of P_T (dex).")


class ExplainResult(BaseModel):
    valid: bool = Field(description="False when the point cannot be explained (see errors).")
    prediction: float | None = Field(description="log10 of the model's σ(target) in pb/GeV⁴.")
    shap: Shap | None = Field(description="base_value + Σ shap = prediction (to 1e-6).")
    errors: list[str] = Field(description="Why the point was not explained.")


class ExplainResponse(BaseModel):
    target: Output
    model: Literal["exact", "surrogate"]
    space: Literal["log10(sigma)"] = "log10(sigma)"
    sqrt_s: float = Field(description="√s in GeV, held fixed.")
    base_value: float | None = Field(
        description="Mean log10 σ over the background sample of the training domain "
        "(rows physical at this √s); null if none is."
    )
    results: list[ExplainResult]
