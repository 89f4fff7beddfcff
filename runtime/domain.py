"""The training domain of the surrogate (issue 3): bounds, membership and the (x, Q) footprint.

Units: √s, Q and P_T in GeV; x, z, y dimensionless. The domain is

    28 ≤ √s ≤ 141 GeV, 5 ≤ Q ≤ 100 GeV, 0.1 ≤ z ≤ 0.9,
    0 ≤ P_T ≤ min(z Q / 2, 10 GeV), 0.01 ≤ y ≤ 0.95, W ≥ M + m_p,

with the default PDF set and theory (``physics.config.TheoryConfig()``).
Every point of it is physical (``physics.kinematics.check_domain``).

The surrogate learns only functions of (x, Q); the footprint of the domain
in (u, v) = (logit x, ln Q) is the band u_lo(v) ≤ u ≤ u_hi(v) with
x_lo = Q² / (y_max s_max) and x_hi = min(Q² / (y_min s_min), x_W(Q)), where
x_W(Q) = Q² / (Q² + W_min² − m_p²) is the W threshold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from physics.constants import M_PROTON, W_THRESHOLD

FEATURES = ("sqrt_s", "x", "z", "Q", "PT")
"""Input columns of the surrogate, in order."""

FEATURE_UNITS = {"sqrt_s": "GeV", "x": "", "z": "", "Q": "GeV", "PT": "GeV"}


def logit(x):
    """u = ln(x / (1 − x))."""
    return np.log(x) - np.log1p(-x)


def expit(u):
    """x = 1 / (1 + e^−u), the inverse of ``logit``."""
    return 1.0 / (1.0 + np.exp(-u))


@dataclass(frozen=True)
class TrainingDomain:
    """Bounds of the training domain (GeV for √s, Q, P_T)."""

    sqrt_s: tuple[float, float] = (28.0, 141.0)
    Q: tuple[float, float] = (5.0, 100.0)
    z: tuple[float, float] = (0.1, 0.9)
    PT: tuple[float, float] = (0.0, 10.0)
    PT_max_over_zQ: float = 0.5
    y: tuple[float, float] = (0.01, 0.95)
    W_min: float = round(W_THRESHOLD, 6)

    def x_bounds(self, Q):
        """Smallest and largest x reachable at Q (any √s in range): (x_lo, x_hi)."""
        q2 = np.asarray(Q, dtype=float) ** 2
        x_lo = q2 / (self.y[1] * self.sqrt_s[1] ** 2)
        x_y = q2 / (self.y[0] * self.sqrt_s[0] ** 2)
        x_w = q2 / (q2 + self.W_min**2 - M_PROTON**2)
        return x_lo, np.minimum(x_y, x_w)

    def pt_max(self, z, Q):
        """Upper edge of P_T at (z, Q): min(z Q / 2, P_T,max) in GeV."""
        return np.minimum(self.PT_max_over_zQ * z * Q, self.PT[1])

    def contains(self, features: np.ndarray) -> np.ndarray:
        """Mask of rows of ``features`` ([N, 5] in ``FEATURES`` order) inside the domain."""
        rs, x, z, Q, PT = np.asarray(features, dtype=float).T
        with np.errstate(all="ignore"):
            y = Q * Q / (x * rs * rs)
            w2 = Q * Q * (1.0 - x) / x + M_PROTON**2
            return (
                (rs >= self.sqrt_s[0]) & (rs <= self.sqrt_s[1])
                & (Q >= self.Q[0]) & (Q <= self.Q[1])
                & (z >= self.z[0]) & (z <= self.z[1])
                & (x > 0.0) & (x < 1.0)
                & (PT >= self.PT[0]) & (PT <= self.pt_max(z, Q))
                & (y >= self.y[0]) & (y <= self.y[1])
                & (w2 >= self.W_min**2)
            )  # fmt: skip

    def to_manifest(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


DOMAIN = TrainingDomain()
