"""Physical constants and model defaults (``docs/physics.md``, "Constants").

Units: GeV for masses and energies, pb for cross sections. Values are the
defaults of the original study (arXiv:2308.08605, arXiv:2310.13737).
"""

from __future__ import annotations

N_C = 3
"""Number of colours."""

N_F = 5
"""Active flavours in the one-loop running coupling."""

M_JPSI = 3.1
"""J/ψ mass in GeV; also 2 m_c."""

M_PROTON = 0.938272
"""Proton mass in GeV."""

LAMBDA_QCD = 0.2
"""One-loop QCD scale Λ in GeV."""

ALPHA_EM = 1.0 / 137.036
"""Fine-structure constant (Thomson limit)."""

GEV2_TO_PB = 1.0 / 2.568e-9
"""Conversion GeV⁻² → pb (= 3.894081e8 pb GeV²)."""

MU_PGF = 30.0
"""Scale in GeV at which α_s is taken in the photon–gluon fusion channels."""

PT2_WIDTH = 0.25
"""⟨P_T²⟩ in GeV², width of the photon–gluon fusion Gaussian in P_T."""

Z_WIDTH = 0.04
"""⟨(1−z)²⟩, width of the photon–gluon fusion Gaussian in z."""

W_THRESHOLD = M_JPSI + M_PROTON
"""Smallest photon–proton mass W (GeV) that can make a J/ψ and a proton: 4.038272."""

SQRT_S_DEFAULT = 63.0
"""Default electron–proton centre-of-mass energy in GeV (EIC configuration of the study)."""

# Colour-octet LDMEs: Chao et al. (2012) fit, as used by the original study.
O3S1_8 = 0.3e-2
"""⟨O(³S₁[8])⟩ in GeV³."""

O3S1_1 = 1.16
"""⟨O(³S₁[1])⟩ in GeV³."""

O1S0_8 = 8.9e-2
"""⟨O(¹S₀[8])⟩ in GeV³."""

O3P0_8 = (M_JPSI / 2.0) ** 2 * 0.56e-2
"""⟨O(³P₀[8])⟩ in GeV⁵ = (M/2)² × 0.56e-2 GeV³ · GeV²."""

QUARK_CHARGES = {1: -1.0 / 3.0, 2: 2.0 / 3.0, 3: -1.0 / 3.0}
"""Electric charges of d, u, s (PDG ids); antiquarks carry the opposite sign."""
