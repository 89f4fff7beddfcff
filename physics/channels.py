"""The eight J/ψ production channels (``physics.md``, "The eight channels").

Every channel is a sum of products a(x, Q) · b(z, P_T): PDFs, y and Q enter
only through a handful of (x, Q) factors, z and P_T only through the other
side. This module writes each channel in that separable form once; point
evaluation multiplies the two sides, and the binned integrals integrate each
side separately (``physics.binning``), which is exact, not an approximation.

Units: f(x, Q) are number densities (x·f / x); every channel is in pb/GeV⁴.
The (x, Q) factors carry C α_em² (C = GeV⁻² → pb) and the Q power; the
(z, P_T) factors carry α_s, M, the LDMEs and the rest.

Expansion of the y-polynomials (so that y and z separate):
    P_U(y, z) = y² (8 + z (3z − 8)) + (1 − y) (8 z̃ − 2 z z̃²)
    P_L(y, z) = (2 − y)² − 2 z (1 − y)
"""

from __future__ import annotations

import math

import numpy as np

from physics.config import LDME
from physics.constants import ALPHA_EM, GEV2_TO_PB, M_JPSI, MU_PGF, PT2_WIDTH, Z_WIDTH
from physics.coupling import alpha_s
from physics.fragmentation import d1_minus_d1ll, k_norm

ALPHA_S_PGF = alpha_s(MU_PGF)
"""α_s(30 GeV) = 0.16356 at one loop: the coupling of photon–gluon fusion."""

CHANNELS = (
    "oct3s1_U", "oct3s1_L",
    "oct1s0_U", "oct1s0_L",
    "oct3p0_U", "oct3p0_L",
    "sing3s1_U", "sing3s1_L",
)  # fmt: skip
TOTALS = ("total_U", "total_L")
OUTPUTS = CHANNELS + TOTALS
UNITS = "pb/GeV^4"

XQ_FACTORS = ("frag", "pgf_Y", "pgf_y2", "pgf_1my", "pgf_2my2")

_C_EM2 = GEV2_TO_PB * ALPHA_EM**2


def y_weight(y):
    """Y(y) = 1 − y + y²/2."""
    return 1.0 - y + 0.5 * y * y


def gaussian_pt(PT):
    """F(P_T) = exp(−P_T²/⟨P_T²⟩) / (π ⟨P_T²⟩), GeV⁻²."""
    return np.exp(-(PT * PT) / PT2_WIDTH) / (math.pi * PT2_WIDTH)


def gaussian_z(z):
    """G(z) = exp(−(1 − z)²/⟨(1−z)²⟩) / sqrt(π ⟨(1−z)²⟩)."""
    return np.exp(-((1.0 - z) ** 2) / Z_WIDTH) / math.sqrt(math.pi * Z_WIDTH)


def xq_factors(y, Q, g, qeff) -> dict[str, np.ndarray]:
    """The (x, Q) sides: y dimensionless, Q in GeV, g and q_eff number densities.

    frag = C α² 4π Y(y) q_eff / Q⁴;  pgf_* = C α² g / Q⁶ × {Y(y), y², 1 − y, (2 − y)²}.
    """
    inv_q2 = 1.0 / (Q * Q)
    frag = (4.0 * math.pi * _C_EM2) * y_weight(y) * qeff * (inv_q2 * inv_q2)
    gq6 = _C_EM2 * g * (inv_q2 * inv_q2 * inv_q2)
    one_minus_y = 1.0 - y
    two_minus_y = 2.0 - y
    return {
        "frag": frag,
        "pgf_Y": gq6 * y_weight(y),
        "pgf_y2": gq6 * (y * y),
        "pgf_1my": gq6 * one_minus_y,
        "pgf_2my2": gq6 * (two_minus_y * two_minus_y),
    }


def zpt_terms(z, PT, ldme: LDME) -> dict[str, list[tuple[str, np.ndarray]]]:
    """The (z, P_T) sides of every channel: channel → [(name of its (x, Q) factor, b(z, P_T))].

    Arrays broadcast, so z of shape (n, 1) against P_T of shape (1, m) gives
    the (n, m) tables the binned integrals need.
    """
    M = M_JPSI
    zt = 2.0 - z
    zb = 1.0 - z
    pt2 = PT * PT
    # quark fragmentation: 3 D1 and D1 − D1LL
    kz = k_norm(ldme.O3S1_8) / z
    den = z * z * pt2 + M * M * zb
    den2 = den * den
    frag_u = 3.0 * kz * (pt2 * z * z * (z * z - 2.0 * z + 2.0) + 2.0 * M * M * zb * zb) / den2
    frag_l = d1_minus_d1ll(z, PT, ldme.O3S1_8)
    # photon–gluon fusion, colour octets: common Gaussians
    gauss = gaussian_z(z) * gaussian_pt(PT)
    s0 = (32.0 * math.pi**3 * ALPHA_S_PGF * ldme.O1S0_8 / (9.0 * M)) * z / zt**3 * gauss
    p0 = (64.0 * math.pi**3 * ALPHA_S_PGF * ldme.O3P0_8 / (9.0 * M**3)) * z / zt**5 * gauss
    # colour singlet
    mz2 = zb * zb * M * M
    sden = pt2 + mz2
    sb = (512.0 * math.pi * ALPHA_S_PGF**2 * ldme.O3S1_1 / (243.0 * M)) * zb / (z * zt * zt)
    sb = sb / (sden * sden)
    return {
        "oct3s1_U": [("frag", frag_u)],
        "oct3s1_L": [("frag", frag_l)],
        "oct1s0_U": [("pgf_Y", s0)],
        "oct1s0_L": [("pgf_Y", s0 / 3.0)],
        "oct3p0_U": [
            ("pgf_y2", p0 * (8.0 + z * (3.0 * z - 8.0))),
            ("pgf_1my", p0 * (8.0 * zt - 2.0 * z * zt * zt)),
        ],
        "oct3p0_L": [("pgf_2my2", p0 * z * z), ("pgf_1my", p0 * (-2.0 * z**3))],
        "sing3s1_U": [("pgf_Y", sb * (pt2 + mz2 * (2.0 - z * zt)))],
        "sing3s1_L": [("pgf_Y", sb * pt2)],
    }


def combine(xq: dict, terms: dict, channels=CHANNELS) -> dict[str, np.ndarray]:
    """Σ_k a_k · b_k per channel, plus total_U and total_L over the channels computed."""
    out = {}
    for ch in channels:
        parts = terms[ch]
        value = xq[parts[0][0]] * parts[0][1]
        for name, b in parts[1:]:
            value = value + xq[name] * b
        out[ch] = value
    return out


def add_totals(sigma: dict[str, np.ndarray]) -> None:
    """total_U, total_L = sums of the four U and the four L channels (in place)."""
    sigma["total_U"] = (
        sigma["oct3s1_U"] + sigma["oct1s0_U"] + sigma["oct3p0_U"] + sigma["sing3s1_U"]
    )
    sigma["total_L"] = (
        sigma["oct3s1_L"] + sigma["oct1s0_L"] + sigma["oct3p0_L"] + sigma["sing3s1_L"]
    )
