"""Columnar JSON (issue 12): one array per coordinate in, one array per output out.

``"columns": {"x": [...], "z": [...], "Q": [...], "PT": [...]}`` replaces ``points`` on
/v1/exact, /v1/predict and /v1/anomaly; the answer is then columnar too. Row i of every
column is point i; the errors and flags of the rows that have any are listed by row.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

import physics
from physics.constants import SQRT_S_DEFAULT
from service.schemas.common import Channels, Finite, Point, SqrtS

COORDINATES = ("x", "z", "Q", "PT")
SIGMA_PREFIX = "sigma."
SIGMA_COLUMNS = tuple(SIGMA_PREFIX + name for name in physics.OUTPUTS)

ONE_OF: dict[str, Any] = {"oneOf": [{"required": ["points"]}, {"required": ["columns"]}]}
"""A request has points or columns, never both (JSON Schema of the request models)."""

EXAMPLE_COLUMNS: dict[str, Any] = {
    "x": [0.2, 0.01],
    "z": [0.5, 0.5],
    "Q": [20.0, 20.0],
    "PT": [1.0, 1.0],
}


def _same_length(columns: dict[str, list]) -> None:
    lengths = {name: len(values) for name, values in columns.items()}
    first = next(iter(lengths))
    for name, n in lengths.items():
        if n != lengths[first]:
            raise ValueError(
                f"column {name} has {n} values but column {first} has {lengths[first]}: "
                "every column needs one value per row"
            )


class PointColumns(BaseModel):
    """Kinematic points by column: row i is (x[i], z[i], Q[i], PT[i]). All columns have the
    same length (at most JPSI_MAX_POINTS); finite numbers only."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_COLUMNS]})

    x: list[Finite] = Field(description="Bjorken x.")
    z: list[Finite] = Field(description="J/ψ energy fraction z.")
    Q: list[Finite] = Field(description="Photon virtuality Q in GeV.")
    PT: list[Finite] = Field(description="J/ψ transverse momentum in GeV.")

    @model_validator(mode="after")
    def _rectangular(self) -> PointColumns:
        _same_length({k: getattr(self, k) for k in COORDINATES})
        return self


class AnomalyColumns(PointColumns):
    """As ``PointColumns``, plus optional observed values by output as columns named
    ``sigma.<output>`` (pb/GeV⁴; null: none supplied for that row)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [{**EXAMPLE_COLUMNS, "sigma.total_U": [3.7e-6, None]}],
            "patternProperties": {
                r"^sigma\.(" + "|".join(physics.OUTPUTS) + r")$": {
                    "type": "array",
                    "items": {"type": ["number", "null"]},
                }
            },
            "additionalProperties": False,
        },
    )
    __pydantic_extra__: dict[str, list[Finite | None]] = Field(init=False)

    x: list[Finite] = Field(min_length=1, description="Bjorken x (at least one row).")

    @model_validator(mode="after")
    def _sigma_names(self) -> AnomalyColumns:
        extra = self.__pydantic_extra__ or {}
        for name in extra:
            if name not in SIGMA_COLUMNS:
                raise ValueError(
                    f"unknown column {name[:64]!r}: expected x, z, Q, PT and optionally "
                    f"sigma.<output> with <output> one of {', '.join(physics.OUTPUTS)}"
                )
        _same_length({"x": self.x, **extra})
        return self

    def sigma(self) -> dict[str, list[float | None]]:
        """Supplied values by output name (without the ``sigma.`` prefix)."""
        extra = self.__pydantic_extra__ or {}
        return {k.removeprefix(SIGMA_PREFIX): v for k, v in extra.items()}


class RowErrors(BaseModel):
    row: int = Field(description="Index of the point (0-based).")
    errors: list[str] = Field(description="Each violated condition, e.g. 'y = 1.73 > 1'.")


class RowFlags(BaseModel):
    row: int = Field(description="Index of the point (0-based).")
    flags: list[str] = Field(
        description="Warnings on a valid point: outside_tmd_region, outside_acceptance, "
        "z_above_0.9, outside_training_domain (predict)."
    )


class ResultColumns(BaseModel):
    """One array per output, row i for point i. Output columns (pb/GeV⁴) are named as the
    requested outputs; null where the point is not valid."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "additionalProperties": {"type": "array", "items": {"type": ["number", "null"]}}
        },
    )

    valid: list[bool] = Field(description="False where the point is outside the physical domain.")
    y: list[float | None] = Field(description="Inelasticity y = Q²/(x s); null where invalid.")


class ColumnsAnswer(BaseModel):
    units: str = Field("pb/GeV^4", description="Of every output column.")
    sqrt_s: float = Field(description="√s in GeV.")
    n: int = Field(description="Rows (points).")
    columns: ResultColumns
    errors: list[RowErrors] = Field(description="The rows that are not valid, and why.")
    flags: list[RowFlags] = Field(description="The valid rows that carry flags.")


class AnomalyResultColumns(BaseModel):
    score: list[float] = Field(description="In [0, 1]; higher = more anomalous.")
    is_anomaly: list[bool] = Field(description="score > threshold.")


class RowReasons(BaseModel):
    row: int = Field(description="Index of the point (0-based).")
    reasons: list[str] = Field(description="Which part of the score fired, and why.")


class AnomalyColumnsResponse(BaseModel):
    threshold: float
    n: int = Field(description="Rows (points).")
    columns: AnomalyResultColumns
    components: dict[str, list[float | None]] = Field(
        description="Each part of the score by row (null where not computed for that row)."
    )
    reasons: list[RowReasons] = Field(description="The rows with reasons.")


def exactly_one(data: Any) -> None:
    """422 at points (neither given) or columns (both given) unless exactly one is."""
    if not isinstance(data, dict):
        return
    has_points, has_columns = data.get("points") is not None, data.get("columns") is not None
    if has_points != has_columns:
        return
    where, msg = (
        ("columns", "send points or columns, not both")
        if has_points
        else ("points", "send points (a list of points) or columns (one list per coordinate)")
    )
    kind = PydanticCustomError("missing" if not has_points else "value_error", msg)
    error: InitErrorDetails = {"type": kind, "loc": (where,), "input": None}
    raise ValidationError.from_exception_data("request", [error])


class PointsOrColumns(BaseModel):
    """The kinematic part of a point request: ``points`` or ``columns`` (exactly one), √s and
    the outputs wanted. /v1/exact and /v1/predict add their own fields."""

    model_config = ConfigDict(extra="forbid")

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
