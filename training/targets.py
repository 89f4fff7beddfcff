"""Exact targets from the physics engine: σ of every output and the two PDF log-densities.

σ in pb/GeV⁴ (``physics.OUTPUTS`` order); ln x·g and ln x·q_eff with number
densities from ``physics.points.number_densities`` (default theory).
"""

from __future__ import annotations

import numpy as np

from physics import OUTPUTS, TheoryConfig, evaluate, load_pdf
from physics.points import number_densities


def exact_sigma(features: np.ndarray, theory: TheoryConfig | None = None) -> np.ndarray:
    """[N, 10] exact cross sections at features [N, 5] = (√s, x, z, Q, P_T); NaN if unphysical."""
    rs, x, z, Q, PT = np.asarray(features, dtype=float).T
    ev = evaluate(x, z, Q, PT, sqrt_s=rs, theory=theory)
    return np.column_stack([ev[name] for name in OUTPUTS])


def log_xpdf(xq: np.ndarray, theory: TheoryConfig | None = None) -> np.ndarray:
    """[N, 2] (ln x·g, ln x·q_eff) at (x, Q/GeV); −inf where a density is clipped to 0."""
    theory = theory or TheoryConfig()
    x, Q = np.asarray(xq, dtype=float).T
    g, q = number_densities(load_pdf(theory.pdf_set), theory.quarks, x, Q)
    with np.errstate(divide="ignore"):
        return np.log(np.column_stack([x * g, x * q]))
