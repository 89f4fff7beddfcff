"""Hypothesis strategies over the physical domain of ``physics.md``."""

import math

from hypothesis import strategies as st

from physics.constants import M_PROTON, W_THRESHOLD

PDF_Q_MIN, PDF_Q_MAX = 1.65, 1.0e5  # NNPDF31_lo_as_0118 grid


@st.composite
def physical_points(draw):
    """(x, z, Q, PT, sqrt_s) with y <= 1, W >= M + m_p and (x, Q) on the default PDF grid."""
    s_root = draw(st.floats(10.0, 320.0))
    s = s_root**2
    c = W_THRESHOLD**2 - M_PROTON**2
    q_top = min(math.sqrt(s - c) * 0.999, 300.0)
    Q = draw(st.floats(PDF_Q_MIN, q_top))
    lo, hi = Q * Q / s, Q * Q / (Q * Q + c)
    t = draw(st.floats(0.0, 1.0))
    x = math.exp(math.log(lo) + t * (math.log(hi) - math.log(lo)))
    x = min(max(x, lo * (1 + 1e-12)), hi * (1 - 1e-12))  # stay inside despite rounding
    z = draw(st.floats(1e-4, 1 - 1e-6))
    PT = draw(st.one_of(st.just(0.0), st.floats(0.0, 30.0)))
    return x, z, Q, PT, s_root
