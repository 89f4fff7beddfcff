"""POST /v1/predict: the ONNX surrogate at points."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from physics.constants import SQRT_S_DEFAULT
from service.schemas.columns import (
    EXAMPLE_COLUMNS,
    ONE_OF,
    ColumnsAnswer,
    PointsOrColumns,
)
from service.schemas.common import EXAMPLE_POINT, PointResult


class PredictRequest(PointsOrColumns):
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
