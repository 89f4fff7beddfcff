"""The training domain of the surrogate: bounds, membership, reasons and the (x, Q) footprint.

Units: √s, Q and P_T in GeV; x, z, y dimensionless. The domain is

    28 ≤ √s ≤ 141 GeV, 5 ≤ Q ≤ 100 GeV, 0.1 ≤ z ≤ 0.9,
    0 ≤ P_T ≤ min(z Q / 2, 10 GeV), 0.01 ≤ y ≤ 0.95, W ≥ M + m_p,

with the default PDF set and theory. Every point of it is physical
(``physics.kinematics.check_domain``). Training samples it, the surrogate's
manifest records it (``to_manifest``), ``/v1/predict`` flags points outside it
and the anomaly scorer names the bounds a point breaks: all through this class.

The surrogate learns only functions of (x, Q); the footprint of the domain
in (u, v) = (logit x, ln Q) is the band u_lo(v) ≤ u ≤ u_hi(v) with
x_lo = Q² / (y_max s_max) and x_hi = min(Q² / (y_min s_min), x_W(Q)), where
x_W(Q) = Q² / (Q² + W_min² − m_p²) is the W threshold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from physics.constants import M_PROTON, W_THRESHOLD
from physics.kinematics import inelasticity, w_squared


def logit(x):
    """u = ln(x / (1 − x))."""
    return np.log(x) - np.log1p(-x)


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

    @classmethod
    def from_manifest(cls, d: dict[str, Any]) -> TrainingDomain:
        """The domain recorded in a manifest's ``training_domain``; ``ValueError`` if malformed."""
        try:
            pair = {k: (float(d[k][0]), float(d[k][1])) for k in ("sqrt_s", "Q", "z", "PT", "y")}
            return cls(
                **pair,
                PT_max_over_zQ=float(d.get("PT_max_over_zQ", np.inf)),
                W_min=float(d.get("W_min", 0.0)),
            )
        except (KeyError, TypeError, IndexError, ValueError) as exc:
            raise ValueError(f"training_domain is malformed: {exc!r}") from exc

    def to_manifest(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

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

    def contains_points(self, sqrt_s, x, z, Q, PT) -> np.ndarray:
        """Mask of points inside the domain (arrays; ``sqrt_s`` may be a scalar)."""
        with np.errstate(all="ignore"):
            y = inelasticity(x, Q, sqrt_s)
            return (
                (sqrt_s >= self.sqrt_s[0]) & (sqrt_s <= self.sqrt_s[1])
                & (Q >= self.Q[0]) & (Q <= self.Q[1])
                & (z >= self.z[0]) & (z <= self.z[1])
                & (x > 0.0) & (x < 1.0)
                & (PT >= self.PT[0]) & (PT <= self.pt_max(z, Q))
                & (y >= self.y[0]) & (y <= self.y[1])
                & (w_squared(x, Q) >= self.W_min**2)
            )  # fmt: skip

    def contains_point(self, sqrt_s: float, x: float, z: float, Q: float, PT: float) -> bool:
        """``contains_points`` for one point in plain floats, bit for bit (a test checks).
        ``ZeroDivisionError`` where numpy would divide by zero."""
        return (
            self.sqrt_s[0] <= sqrt_s <= self.sqrt_s[1]
            and self.Q[0] <= Q <= self.Q[1]
            and self.z[0] <= z <= self.z[1]
            and 0.0 < x < 1.0
            and self.PT[0] <= PT <= min(self.PT_max_over_zQ * z * Q, self.PT[1])
            and self.y[0] <= inelasticity(x, Q, sqrt_s) <= self.y[1]
            and w_squared(x, Q) >= self.W_min**2
        )

    def contains(self, features: np.ndarray) -> np.ndarray:
        """Mask of rows of ``features`` ([N, 5] in ``SURROGATE_FEATURES`` order) inside."""
        rs, x, z, Q, PT = np.asarray(features, dtype=float).T
        return self.contains_points(rs, x, z, Q, PT)

    def violations(self, points: np.ndarray, sqrt_s: float) -> list[list[str]]:
        """Per point ([n, 4]: x, z, Q, P_T), the bounds it breaks, in words with values."""
        x, z, Q, PT = np.asarray(points, dtype=float).T
        with np.errstate(all="ignore"):
            y = inelasticity(x, Q, sqrt_s)
            w = np.sqrt(np.maximum(w_squared(x, Q), 0.0))
            pt_max = self.pt_max(z, Q)
        rs_lo, rs_hi = self.sqrt_s
        out: list[list[str]] = []
        for i in range(x.size):
            r = []
            if not rs_lo <= sqrt_s <= rs_hi:
                r.append(f"sqrt_s = {sqrt_s:.4g} GeV outside [{rs_lo:g}, {rs_hi:g}] GeV")
            for name, v, (lo, hi) in (("Q", Q[i], self.Q), ("z", z[i], self.z)):
                if not lo <= v <= hi:
                    unit = " GeV" if name == "Q" else ""
                    r.append(f"{name} = {v:.4g}{unit} outside [{lo:g}, {hi:g}]{unit}")
            if not self.PT[0] <= PT[i] <= pt_max[i]:
                r.append(f"PT = {PT[i]:.4g} GeV > min(zQ/2, {self.PT[1]:g}) = {pt_max[i]:.4g} GeV")
            if not self.y[0] <= y[i] <= self.y[1]:
                r.append(f"y = {y[i]:.4g} outside [{self.y[0]:g}, {self.y[1]:g}]")
            if not w[i] >= self.W_min:
                r.append(f"W = {w[i]:.4g} GeV < {self.W_min:.4g} GeV")
            out.append(r)
        return out


DOMAIN = TrainingDomain()
