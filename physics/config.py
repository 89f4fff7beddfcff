"""Theory configuration: the choices a result depends on besides the kinematics.

One frozen dataclass, defaults from ``physics.md``; pass it explicitly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Literal

from physics import constants as c
from physics.pdf import DEFAULT_PDF_SET

QuarkSet = Literal["full", "ud"]

QUARK_WEIGHTS: dict[str, dict[int, float]] = {
    # Σ_q e_q² f_q over u, ū, d, d̄, s, s̄ (physics.md, "Parton distributions")
    "full": {pid: c.QUARK_CHARGES[abs(pid)] ** 2 for pid in (1, -1, 2, -2, 3, -3)},
    # the original study's choice: (4/9) f_u + (1/9) f_d
    "ud": {2: 4.0 / 9.0, 1: 1.0 / 9.0},
}


@dataclass(frozen=True)
class LDME:
    """Long-distance matrix elements (GeV³, except ⟨O(³P₀[8])⟩ in GeV⁵).

    Finite values of either sign: some published fits have a negative
    colour-octet element (``physics.ldme``); a channel is then negative too.
    """

    O3S1_8: float = c.O3S1_8
    O3S1_1: float = c.O3S1_1
    O1S0_8: float = c.O1S0_8
    O3P0_8: float = c.O3P0_8

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not math.isfinite(value):
                raise ValueError(f"LDME {f.name} must be finite, got {value}")


@dataclass(frozen=True)
class TheoryConfig:
    """Everything but the kinematics (and the beam energy √s, an argument) that a cross
    section depends on.

    ``pdf_set`` a set name on the PDF search path; ``quarks`` "full" (u, ū, d, d̄, s, s̄)
    or "ud" (u and d only, as in the original study); ``ldme`` the LDMEs.
    """

    pdf_set: str = DEFAULT_PDF_SET
    quarks: QuarkSet = "full"
    ldme: LDME = field(default_factory=LDME)

    def __post_init__(self) -> None:
        if self.quarks not in QUARK_WEIGHTS:
            raise ValueError(f"quarks must be one of {sorted(QUARK_WEIGHTS)}, got {self.quarks!r}")
