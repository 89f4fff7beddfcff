"""POST /v1/anomaly: how unusual is a submitted point, and the values given with it."""

from __future__ import annotations

from typing import Annotated, NotRequired

from pydantic import BaseModel, ConfigDict, Field, model_validator, with_config
from typing_extensions import TypedDict

from physics.constants import SQRT_S_DEFAULT
from service.schemas.columns import EXAMPLE_COLUMNS, ONE_OF, AnomalyColumns, exactly_one
from service.schemas.common import EXAMPLE_POINT, Finite, Output, SqrtS


@with_config(ConfigDict(extra="forbid"))
class AnomalyPoint(TypedDict):
    """A kinematic point, optionally with cross-section values a client observed or was given."""

    x: Annotated[Finite, Field(description="Bjorken x.", examples=[0.2])]
    z: Annotated[Finite, Field(description="J/ψ energy fraction z.", examples=[0.5])]
    Q: Annotated[Finite, Field(description="Photon virtuality Q in GeV.", examples=[20.0])]
    PT: Annotated[Finite, Field(description="J/ψ transverse momentum in GeV.", examples=[1.0])]
    sigma: NotRequired[
        Annotated[
            dict[Output, Finite] | None,
            Field(
                description="Supplied values in pb/GeV⁴ by output name (any subset); "
                "compared with the exact engine.",
                examples=[{"total_U": 3.7e-6}],
            ),
        ]
    ]


class AnomalyRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            **ONE_OF,
            "examples": [
                {
                    "points": [{**EXAMPLE_POINT, "sigma": {"total_U": 3.7e-6}}],
                    "sqrt_s": SQRT_S_DEFAULT,
                },
                {"columns": {**EXAMPLE_COLUMNS, "sigma.total_U": [3.7e-6, None]}},
            ],
        },
    )

    # not nullable: the document says "exactly one of points and columns" (ONE_OF)
    points: list[AnomalyPoint] = Field(
        None,  # type: ignore[arg-type, assignment]
        min_length=1,
        description="Points to score (at most 10 000 by default); or send columns.",
    )
    columns: AnomalyColumns = Field(
        None,  # type: ignore[arg-type, assignment]
        description="The points by column instead of points: the answer is by column.",
    )
    sqrt_s: SqrtS = SQRT_S_DEFAULT

    @model_validator(mode="wrap")
    @classmethod
    def _one_of(cls, data, handler):
        exactly_one(data)
        return handler(data)


class AnomalyResult(BaseModel):
    score: float = Field(ge=0.0, le=1.0, description="Higher = more anomalous.")
    is_anomaly: bool = Field(description="score > threshold.")
    components: dict[str, float | None] = Field(
        description="Each part of the score: unphysical, outside_training_domain, isolation "
        "(density of the training domain), theory (supplied values vs the exact engine)."
    )
    reasons: list[str] = Field(description="Which part fired, and why.")


class AnomalyResponse(BaseModel):
    threshold: float = Field(description="Calibrated: ≤ 1% of clean data (±20% noise) above it.")
    results: list[AnomalyResult]
