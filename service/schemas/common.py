"""Shapes shared by several API surfaces: kinematic points, output names, problem details."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, with_config
from typing_extensions import TypedDict

import physics
from physics.constants import SQRT_S_DEFAULT

# Strict: a JSON string is not a number; finite: NaN/±Infinity are refused (422).
Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]

Output = Literal[physics.OUTPUTS]  # type: ignore[valid-type]
"""An output name: one of the eight channels, total_U or total_L."""

SqrtS = Annotated[
    float,
    Field(
        strict=True,
        allow_inf_nan=False,
        gt=0.0,
        le=1.0e5,
        description="Electron–proton centre-of-mass energy √s in GeV (EIC: 29–141; at most 1e5).",
        examples=[SQRT_S_DEFAULT],
    ),
]

PdfSetName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        description="LHAPDF6 set name, one of those installed (listed by /v1/models); "
        "default: the service's JPSI_PDF_SET.",
        examples=[physics.DEFAULT_PDF_SET],
    ),
]

Channels = Annotated[
    list[Output] | None,
    Field(
        min_length=1,
        description="Outputs to return (channels, total_U, total_L); default all ten.",
        examples=[["total_U", "total_L"]],
    ),
]


@with_config(ConfigDict(extra="forbid"))
class Point(TypedDict):
    """A kinematic point. Any finite numbers are accepted; unphysical points are answered
    in place with ``valid: false``. The physical domain: 0 < x < 1, 0 < z < 1, Q > 0,
    PT ≥ 0, 0 < y = Q²/(x s) ≤ 1, W ≥ 4.038 GeV, (x, Q) on the PDF grid."""

    # a TypedDict, not a model: validating 10 000 of them is 4× faster
    x: Annotated[Finite, Field(description="Bjorken x.", examples=[0.2])]
    z: Annotated[Finite, Field(description="J/ψ energy fraction z.", examples=[0.5])]
    Q: Annotated[Finite, Field(description="Photon virtuality Q in GeV.", examples=[20.0])]
    PT: Annotated[Finite, Field(description="J/ψ transverse momentum in GeV.", examples=[1.0])]


EXAMPLE_POINT: dict[str, Any] = {"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}


class PointResult(BaseModel):
    """The answer for one point, in the order of the request's points."""

    valid: bool = Field(description="False when the point is outside the physical domain.")
    y: float | None = Field(description="Inelasticity y = Q²/(x s); null when invalid.")
    sigma: dict[Output, float] | None = Field(
        description="Differential cross sections in pb/GeV⁴ (dx dz dQ² dP_T²); null when invalid."
    )
    errors: list[str] = Field(description="Each violated condition, e.g. 'y = 1.73 > 1'.")
    flags: list[str] = Field(
        description="Warnings on a valid point: outside_tmd_region (PT > zQ/2), "
        "outside_acceptance (y outside [0.01, 0.95]), z_above_0.9, outside_training_domain."
    )


class ErrorItem(BaseModel):
    loc: list[str | int] = Field(description="Where: e.g. ['body', 'points', 3, 'x'].")
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details; ``errors`` lists each offending field for a 422."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[ErrorItem] = Field(default_factory=list)
    reasons: list[str] | None = Field(None, description="For a 503: what is not loaded, and why.")


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "X-API-Key missing or wrong (when a key is set)."},
    413: {"model": Problem, "description": "Request body over the byte limit."},
    422: {"model": Problem, "description": "Request breaks the schema; nothing is computed."},
}
