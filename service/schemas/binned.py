"""POST /v1/exact/binned: dσ/dP_T² integrated over bins in x, z and Q."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from physics.constants import SQRT_S_DEFAULT, W_THRESHOLD
from service.schemas.common import Channels, Finite, Output
from service.schemas.exact import Theory
from service.schemas.theory import Band, UncertaintyModel

XEdge = Annotated[Finite, Field(ge=0.0, le=1.0)]
ZEdge = Annotated[Finite, Field(gt=0.0, le=1.0)]
QEdge = Annotated[Finite, Field(ge=0.0, le=1.0e5)]
PAIR = "[lo, hi] with lo < hi"


class BinEdges(BaseModel):
    """A bin: x in [0, 1], z in (0, 1], Q in GeV; each as [lo, hi] with lo < hi."""

    model_config = ConfigDict(extra="forbid")

    x: tuple[XEdge, XEdge] = Field(description=f"x edges, {PAIR}.", examples=[[0.1, 0.3]])
    z: tuple[ZEdge, ZEdge] = Field(
        description=f"z edges, {PAIR}; lo > 0 (the integral diverges as 1/z).",
        examples=[[0.4, 1.0]],
    )
    Q: tuple[QEdge, QEdge] = Field(description=f"Q edges in GeV, {PAIR}.", examples=[[10.0, 30.0]])


BinnedSqrtS = Annotated[
    float,
    Field(
        strict=True,
        allow_inf_nan=False,
        gt=W_THRESHOLD,
        le=1.0e5,
        description="Electron–proton centre-of-mass energy √s in GeV, above the threshold "
        f"M + m_p = {W_THRESHOLD:.4f} GeV below which no bin has a physical part.",
        examples=[SQRT_S_DEFAULT],
    ),
]


class BinnedRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "bins": [{"x": [0.1, 0.3], "z": [0.4, 1.0], "Q": [10.0, 30.0]}],
                    "PT": [0.5, 1.0, 2.0],
                    "sqrt_s": SQRT_S_DEFAULT,
                }
            ]
        },
    )

    bins: list[BinEdges] = Field(min_length=1, description="At most 100 bins by default.")
    PT: list[Annotated[Finite, Field(ge=0.0)]] = Field(
        min_length=1, description="P_T values in GeV (at most 200 by default)."
    )
    sqrt_s: BinnedSqrtS = SQRT_S_DEFAULT
    channels: Channels = None
    theory: Theory | None = None
    uncertainty: UncertaintyModel | None = Field(
        None, description="Theory variations: adds a 'band' to every bin's result."
    )


class BinResult(BaseModel):
    bin: BinEdges
    physical: bool = Field(description="False when no part of the bin is physical (σ = 0).")
    PT: list[float]
    sigma: dict[Output, list[float]] = Field(description="dσ/dP_T² in pb/GeV², one per PT.")
    band: Band | None = Field(None, description="Only with 'uncertainty': lists, one per PT.")
    flags: list[str] | None = Field(
        None, description="Only with 'uncertainty': scale_band_incomplete, pdf_band_incomplete."
    )


class BinnedResponse(BaseModel):
    units: Literal["pb/GeV^2"] = "pb/GeV^2"
    sqrt_s: float
    theory: Theory
    results: list[BinResult]
