"""POST /v1/predict: the ONNX surrogate at points."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from physics.constants import SQRT_S_DEFAULT
from service.schemas.columns import (
    EXAMPLE_COLUMNS,
    ONE_OF,
    ColumnsAnswer,
    PointColumns,
    exactly_one,
)
from service.schemas.common import EXAMPLE_POINT, Channels, Point, PointResult, SqrtS


class PredictRequest(BaseModel):
    """As /v1/exact without ``theory``: the surrogate is tied to the theory it learnt."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            **ONE_OF,
            "examples": [
                {"points": [EXAMPLE_POINT], "sqrt_s": SQRT_S_DEFAULT},  # type: ignore[list-item]
                {"columns": EXAMPLE_COLUMNS, "sqrt_s": SQRT_S_DEFAULT, "channels": ["total_U"]},
            ],
        },
    )

    # not nullable: the document says "exactly one of points and columns" (ONE_OF)
    points: list[Point] = Field(
        None,  # type: ignore[arg-type, assignment]
        description="Kinematic points (at most 10 000 by default); or send columns.",
    )
    columns: PointColumns = Field(
        None,  # type: ignore[arg-type, assignment]
        description="The points by column instead of points: the answer is by column.",
    )
    sqrt_s: SqrtS = SQRT_S_DEFAULT
    channels: Channels = None

    @model_validator(mode="wrap")
    @classmethod
    def _one_of(cls, data, handler):
        exactly_one(data)
        return handler(data)


class ModelInfo(BaseModel):
    name: str
    version: str
    sha256: str = Field(description="sha256 of the ONNX file.")


class PredictResponse(BaseModel):
    units: Literal["pb/GeV^4"] = "pb/GeV^4"
    sqrt_s: float
    model: ModelInfo
    results: list[PointResult]


class PredictColumnsResponse(ColumnsAnswer):
    """The answer to a request with ``columns``."""

    model: ModelInfo
