"""Quasi-random samples of the training domain (scrambled Sobol', ``scipy.stats.qmc``).

Measure. Points are uniform in (√s, ln x, z, ln Q, P_T / P_T,max(z, Q)) over
the box spanned by the domain, and points outside the domain (y or W cuts)
are rejected; so the test statistics weight the domain as DIS analyses
usually bin it, logarithmically in x and Q. Sobol' sizes are powers of two.

The (x, Q) sampler covers the footprint of the domain in (logit x, ln Q)
with a margin on every side, so that the spline fitted there is well
determined up to the domain's edges.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import qmc

from runtime.domain import DOMAIN, TrainingDomain, logit


def sobol(dim: int, log2_n: int, seed: int) -> np.ndarray:
    """2**log2_n scrambled Sobol' points in [0, 1)^dim, reproducible from ``seed``."""
    return qmc.Sobol(d=dim, scramble=True, seed=seed).random_base2(log2_n)


def sample_domain(log2_n: int, seed: int, domain: TrainingDomain = DOMAIN) -> np.ndarray:
    """Physical points [M, 5] (√s, x, z, Q, P_T) from 2**log2_n Sobol' draws; M < 2**log2_n."""
    u = sobol(5, log2_n, seed)
    lnq = np.log(domain.Q[0]) + u[:, 3] * np.log(domain.Q[1] / domain.Q[0])
    Q = np.exp(lnq)
    x_lo, _ = domain.x_bounds(domain.Q[0])
    _, x_hi = domain.x_bounds(domain.Q[1])
    x = np.exp(np.log(x_lo) + u[:, 1] * np.log(x_hi / x_lo))
    rs = domain.sqrt_s[0] + u[:, 0] * (domain.sqrt_s[1] - domain.sqrt_s[0])
    z = domain.z[0] + u[:, 2] * (domain.z[1] - domain.z[0])
    PT = u[:, 4] * domain.pt_max(z, Q)
    points = np.column_stack([rs, x, z, Q, PT])
    return points[domain.contains(points)]


def footprint_box(domain: TrainingDomain, margin_u: float, margin_v: float, q_floor: float):
    """(u_lo, u_hi), (v_lo, v_hi): the (logit x, ln Q) box around the footprint with margins.

    ``q_floor`` (GeV) keeps the box above a PDF subgrid boundary just below Q_min.
    """
    x_lo, _ = domain.x_bounds(domain.Q[0])
    _, x_hi = domain.x_bounds(domain.Q[1])
    u = (float(logit(x_lo)) - margin_u, float(logit(x_hi)) + margin_u)
    v = (max(np.log(domain.Q[0]) - margin_v, np.log(q_floor)), np.log(domain.Q[1]) + margin_v)
    return u, v


def sample_footprint(
    log2_n: int, seed: int, box, margin_u: float, domain: TrainingDomain = DOMAIN
) -> np.ndarray:
    """(x, Q) points [M, 2] in the band of the footprint widened by ``margin_u`` in logit x."""
    (u0, u1), (v0, v1) = box
    r = sobol(2, log2_n, seed)
    u = u0 + r[:, 0] * (u1 - u0)
    v = v0 + r[:, 1] * (v1 - v0)
    Q = np.exp(v)
    x_lo, x_hi = domain.x_bounds(Q)
    keep = (u >= logit(x_lo) - margin_u) & (u <= logit(x_hi) + margin_u)
    x = 1.0 / (1.0 + np.exp(-u[keep]))
    return np.column_stack([x, Q[keep]])
