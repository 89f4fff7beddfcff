"""Registry of published long-distance matrix element (LDME) sets for J/ψ.

Units as in ``physics.constants``: ⟨O(³S₁[1])⟩, ⟨O(³S₁[8])⟩, ⟨O(¹S₀[8])⟩ in
GeV³, ⟨O(³P₀[8])⟩ in GeV⁵. A source quoting ⟨O(³P₀[8])⟩/m_c² is converted
with m_c = M/2 = 1.55 GeV, and the conversion is written next to the value.

The LDMEs enter every channel linearly (``physics.channels``): oct3s1 ∝
⟨O(³S₁[8])⟩, oct1s0 ∝ ⟨O(¹S₀[8])⟩, oct3p0 ∝ ⟨O(³P₀[8])⟩, sing3s1 ∝
⟨O(³S₁[1])⟩. ``CHANNEL_LDME`` records which; ``physics.variations`` uses it to
get every set from one evaluation.

A set enters the registry only when each of its four numbers was checked
against its source text; ``verified`` says how. Fits from the literature
whose tables could not be read at the time of writing (Butenschoen–Kniehl
2011, arXiv:1105.0820, with a negative ⟨O(³P₀[8])⟩; Bodwin–Chung–Kim–Lee
2014, arXiv:1403.3612; Gong–Wan–Wang–Zhang 2013, arXiv:1205.6682; Zhang et al.
2015, arXiv:1412.0508) are left out rather than typed from memory; a request
may still give any set's values explicitly (``LDMESet.custom``), negative
values included.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from physics import constants as c
from physics.config import LDME

LDME_FIELDS = ("O3S1_8", "O3S1_1", "O1S0_8", "O3P0_8")
"""Order of the four LDMEs in vectors and matrices."""

LDME_UNITS = {"O3S1_8": "GeV^3", "O3S1_1": "GeV^3", "O1S0_8": "GeV^3", "O3P0_8": "GeV^5"}

CHANNEL_LDME = {
    "oct3s1_U": "O3S1_8",
    "oct3s1_L": "O3S1_8",
    "oct1s0_U": "O1S0_8",
    "oct1s0_L": "O1S0_8",
    "oct3p0_U": "O3P0_8",
    "oct3p0_L": "O3P0_8",
    "sing3s1_U": "O3S1_1",
    "sing3s1_L": "O3S1_1",
}
"""The one LDME each channel is proportional to."""

M_CHARM = c.M_JPSI / 2.0
"""m_c = M/2 = 1.55 GeV: converts ⟨O(³P₀[8])⟩/m_c² (GeV³) to ⟨O(³P₀[8])⟩ (GeV⁵)."""


@dataclass(frozen=True)
class LDMESet:
    """A named LDME set with its provenance.

    ``ldme`` the four values (GeV³; ⟨O(³P₀[8])⟩ in GeV⁵); ``source`` the
    arXiv id and table; ``conversions`` per field how the stored value was
    obtained from the quoted one; ``note`` what else a user should know (e.g.
    where the colour-singlet value comes from); ``verified`` how each number
    was checked against the source.
    """

    name: str
    ldme: LDME
    source: str
    note: str = ""
    conversions: dict[str, str] = field(default_factory=dict)
    verified: str = ""

    @classmethod
    def custom(cls, name: str, **values: float) -> LDMESet:
        """A set given by a client, not from the registry (any finite values)."""
        return cls(name, LDME(**values), source="given in the request")

    @property
    def has_negative(self) -> bool:
        return any(getattr(self.ldme, f) < 0.0 for f in LDME_FIELDS)

    def vector(self) -> tuple[float, ...]:
        """The four values in ``LDME_FIELDS`` order."""
        return tuple(getattr(self.ldme, f) for f in LDME_FIELDS)

    def describe(self) -> dict:
        """JSON-ready description (values, units, source, note)."""
        return {
            "name": self.name,
            "values": dict(zip(LDME_FIELDS, self.vector(), strict=True)),
            "units": dict(LDME_UNITS),
            "source": self.source,
            "note": self.note,
            "conversions": dict(self.conversions),
        }


CHAO_2012 = LDMESet(
    name="Chao2012",
    ldme=LDME(
        O3S1_8=0.3e-2,  # GeV^3
        O3S1_1=1.16,  # GeV^3
        O1S0_8=8.9e-2,  # GeV^3
        O3P0_8=M_CHARM**2 * 0.56e-2,  # GeV^5 = (1.55 GeV)^2 × 0.56e-2 GeV^3
    ),
    source="arXiv:1201.2675 (Chao, Ma, Shao, Wang, Zhang, PRL 108 (2012) 242004), fit values",
    note=(
        "The default of this project and of the original study. Colour singlet "
        "⟨O(³S₁[1])⟩ = 1.16 GeV³ as used by the original study."
    ),
    conversions={"O3P0_8": "quoted ⟨O(³P₀[8])⟩/m_c² = 0.56e-2 GeV³; × m_c² = (1.55 GeV)²"},
    verified=(
        "the constants table of docs/physics.md (the study's values); the same three "
        "octet numbers (0.089, 0.0030, 0.0056 × m_c²) are attributed to arXiv:1201.2675 "
        "by independent public code"
    ),
)

REGISTRY: dict[str, LDMESet] = {s.name: s for s in (CHAO_2012,)}
"""Every registered set by name."""

DEFAULT_LDME_SET = CHAO_2012.name


def get_set(name: str) -> LDMESet:
    """The registered set ``name``; ``KeyError`` naming the registered ones otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown LDME set {name!r}; registered: {', '.join(REGISTRY)}") from None
