"""The strong coupling at one loop (``physics.md``, "Constants").

α_s(μ) = 2π / ((11 − 2 n_f / 3) ln(μ / Λ)), μ and Λ in GeV. The model uses it at
two fixed scales only: α_s(M) = 0.29901 in quark fragmentation and
α_s(30 GeV) = 0.16356 in photon–gluon fusion.
"""

from __future__ import annotations

import numpy as np

from physics.constants import LAMBDA_QCD, N_F


def alpha_s(mu, *, n_f: int = N_F, lambda_qcd: float = LAMBDA_QCD):
    """One-loop running coupling at scale ``mu`` (GeV > Λ); scalars or arrays."""
    mu = np.asarray(mu, dtype=float)
    if np.any(mu <= lambda_qcd):
        raise ValueError(f"alpha_s needs mu > Lambda = {lambda_qcd} GeV, got {mu}")
    beta0 = 11.0 - 2.0 * n_f / 3.0
    result = 2.0 * np.pi / (beta0 * np.log(mu / lambda_qcd))
    return float(result) if result.ndim == 0 else result
