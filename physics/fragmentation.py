"""Light-quark fragmentation into J/ψ via ³S₁[8] (``physics.md``, "The eight channels").

P_T plays the role of the fragmentation k_T. With K(z) = 2 α_s(M)² ⟨O(³S₁[8])⟩ / (9 π N_c M³ z):

    D1(z, P_T)   = K(z) [P_T² z² (z² − 2z + 2) + 2 M² (z − 1)²] / (z² P_T² + M² (1 − z))²
    D1LL(z, P_T) = K(z) [P_T² z² (z² − 2z + 2) − 4 M² (z − 1)²] / (z² P_T² + M² (1 − z))²

Both are in GeV⁻² (P_T in GeV). The channels (``physics.channels``) use 3 D1
and ``d1_minus_d1ll``, D1 − D1LL in the cancellation-free form
K(z) · 6 M² (1 − z)² / (z² P_T² + M² (1 − z))².
"""

from __future__ import annotations

import math

from physics.constants import M_JPSI, N_C, O3S1_8
from physics.coupling import alpha_s

ALPHA_S_FRAG = alpha_s(M_JPSI)
"""α_s(M) = 0.29901 at one loop: the coupling of the fragmentation channel."""


def k_norm(o3s1_8: float = O3S1_8) -> float:
    """z·K(z) = 2 α_s(M)² ⟨O(³S₁[8])⟩ / (9 π N_c M³), in GeV⁰ (⟨O⟩ in GeV³)."""
    return 2.0 * ALPHA_S_FRAG**2 * o3s1_8 / (9.0 * math.pi * N_C * M_JPSI**3)


def _denominator(z, PT):
    return (z * z * PT * PT + M_JPSI**2 * (1.0 - z)) ** 2


def d1_minus_d1ll(z, PT, o3s1_8: float = O3S1_8):
    """D1 − D1LL = K(z) · 6 M² (1 − z)² / (z² P_T² + M² (1 − z))², GeV⁻², ≥ 0 for z < 1."""
    return k_norm(o3s1_8) / z * 6.0 * M_JPSI**2 * (1.0 - z) ** 2 / _denominator(z, PT)
