"""DIS kinematics and the physical domain.

See ``physics.md``, "Kinematic variables" and "Physical domain".

x Bjorken x, z the J/ψ energy fraction, Q and P_T in GeV, √s in GeV.
y = Q² / (x S) and W² = Q² (1 − x) / x + m_p².

A point is physical only if 0 < x < 1, 0 < z < 1, Q > 0, P_T ≥ 0 (all
finite), 0 < y ≤ 1, W ≥ M + m_p, and (x, Q) lies on the PDF grid. Points
that are physical may still carry flags: outside the TMD region
(P_T > z Q / 2), outside the detector acceptance 0.01 ≤ y ≤ 0.95, or
z > 0.9 near the fragmentation formulas' z → 1 singularity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from physics.constants import M_PROTON, W_THRESHOLD

Y_ACCEPTANCE = (0.01, 0.95)
"""Typical detector acceptance in y (flag, not a refusal)."""

Z_SINGULAR = 0.9
"""Above this z the fragmentation formulas approach their z → 1 singularity (flag)."""

FLAG_TMD = "outside_tmd_region"
FLAG_ACCEPTANCE = "outside_acceptance"
FLAG_HIGH_Z = "z_above_0.9"
FLAGS = (FLAG_TMD, FLAG_ACCEPTANCE, FLAG_HIGH_Z)


def inelasticity(x, Q, sqrt_s):
    """y = Q² / (x S), dimensionless (Q, √s in GeV)."""
    return Q * Q / (x * sqrt_s * sqrt_s)


def w_squared(x, Q):
    """W² = Q² (1 − x) / x + m_p² in GeV², the photon–proton invariant mass squared."""
    return Q * Q * (1.0 - x) / x + M_PROTON**2


def x_range_physical(Q, sqrt_s):
    """The x interval allowed at fixed Q by y ≤ 1 and W ≥ M + m_p.

    [Q²/S, Q²/(Q² + W_th² − m_p²)].
    """
    q2 = np.asarray(Q, dtype=float) ** 2
    return q2 / sqrt_s**2, q2 / (q2 + W_THRESHOLD**2 - M_PROTON**2)


@dataclass(frozen=True)
class DomainCheck:
    """Vectorised verdict on points: masks of each violated rule and of each flag."""

    x: np.ndarray
    z: np.ndarray
    Q: np.ndarray
    PT: np.ndarray
    sqrt_s: np.ndarray
    y: np.ndarray
    violations: dict[str, np.ndarray]
    flags: dict[str, np.ndarray]
    grid: tuple[float, float, float, float, str]  # x_min, x_max, q_min, q_max, set name

    @property
    def valid(self) -> np.ndarray:
        bad = np.zeros(self.x.shape, dtype=bool)
        for mask in self.violations.values():
            bad |= mask
        return ~bad

    def reasons(self, i: int) -> list[str]:
        """Messages naming each condition point ``i`` violates, with the offending value."""
        out = []
        for rule, mask in self.violations.items():
            if mask[i]:
                out.append(self._message(rule, i))
        return out

    def _message(self, rule: str, i: int) -> str:
        x, z, Q, PT, y = self.x[i], self.z[i], self.Q[i], self.PT[i], self.y[i]
        x_min, x_max, q_min, q_max, pdf = self.grid
        if rule == "x":
            return (
                f"x = {x:.6g} is not finite" if not np.isfinite(x) else f"x = {x:.6g} not in (0, 1)"
            )
        if rule == "z":
            return (
                f"z = {z:.6g} is not finite" if not np.isfinite(z) else f"z = {z:.6g} not in (0, 1)"
            )
        if rule == "Q":
            return (
                f"Q = {Q:.6g} GeV is not finite"
                if not np.isfinite(Q)
                else f"Q = {Q:.6g} GeV not > 0"
            )
        if rule == "PT":
            return (
                f"PT = {PT:.6g} GeV is not finite"
                if not np.isfinite(PT)
                else f"PT = {PT:.6g} GeV < 0"
            )
        if rule == "sqrt_s":
            return f"sqrt_s = {self.sqrt_s[i]:.6g} GeV not finite and > 0"
        if rule == "y":
            return f"y = {_short(y, 1.0, 3)} > 1"
        if rule == "W":
            w = float(np.sqrt(w_squared(x, Q)))
            return f"W = {_short(w, W_THRESHOLD, 4)} GeV < M + m_p = {W_THRESHOLD:.4g} GeV"
        if rule == "pdf_x":
            return f"x = {x:.6g} outside the PDF grid of {pdf}: [{x_min:.6g}, {x_max:.6g}]"
        if rule == "pdf_Q":
            return f"Q = {Q:.6g} GeV outside the PDF grid of {pdf}: [{q_min:.6g}, {q_max:.6g}] GeV"
        if rule == "overflow":
            return (
                f"cross section not representable in double precision at "
                f"PT = {PT:.6g} GeV, z = {z:.6g} (overflow)"
            )
        raise KeyError(rule)


def _short(value: float, bound: float, digits: int) -> str:
    """``value`` to ``digits`` significant digits; in full where that would print as ``bound``."""
    text = f"{value:.{digits}g}"
    return repr(float(value)) if text == f"{bound:.{digits}g}" else text


def check_domain(x, z, Q, PT, sqrt_s, grid) -> DomainCheck:
    """Apply every rule of the physical domain and compute the flags.

    ``grid`` is the PDF (anything with x_min, x_max, q_min, q_max, name).
    Inputs are 1-d float arrays of equal length (``sqrt_s`` may be a scalar).
    """
    x, z, Q, PT, sqrt_s = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (x, z, Q, PT, sqrt_s))
    )
    with np.errstate(all="ignore"):
        bad_x = ~((x > 0.0) & (x < 1.0))  # NaN fails both comparisons
        bad_z = ~((z > 0.0) & (z < 1.0))
        bad_q = ~((Q > 0.0) & np.isfinite(Q))
        bad_pt = ~((PT >= 0.0) & np.isfinite(PT))
        bad_s = ~((sqrt_s > 0.0) & np.isfinite(sqrt_s))
        kin_ok = ~(bad_x | bad_q | bad_s)
        y = np.where(kin_ok, inelasticity(x, Q, sqrt_s), np.nan)
        w2 = np.where(kin_ok, w_squared(x, Q), np.nan)
        violations = {
            "x": bad_x,
            "z": bad_z,
            "Q": bad_q,
            "PT": bad_pt,
            "sqrt_s": bad_s,
            "y": kin_ok & (y > 1.0),
            "W": kin_ok & (w2 < W_THRESHOLD**2),
            "pdf_x": ~bad_x & ((x < grid.x_min) | (x > grid.x_max)),
            "pdf_Q": ~bad_q & ((Q < grid.q_min) | (Q > grid.q_max)),
        }
        flags = {
            FLAG_TMD: PT > 0.5 * z * Q,
            FLAG_ACCEPTANCE: (y < Y_ACCEPTANCE[0]) | (y > Y_ACCEPTANCE[1]),
            FLAG_HIGH_Z: z > Z_SINGULAR,
        }
    return DomainCheck(
        x,
        z,
        Q,
        PT,
        sqrt_s,
        y,
        violations,
        flags,
        (grid.x_min, grid.x_max, grid.q_min, grid.q_max, grid.name),
    )


def check_point(
    x: float, z: float, Q: float, PT: float, sqrt_s: float, grid
) -> tuple[bool, float, tuple[bool, bool, bool]]:
    """``check_domain`` for one point in plain floats: (valid, y, flags in ``FLAGS`` order).

    The same operations in the same order on IEEE doubles, so the verdict and y are bit for
    bit those of ``check_domain`` (tests/physics/test_kinematics.py checks); used where one
    point at a time is cheaper than numpy's per-call cost. y is NaN when x, Q or √s is out
    of range. ``ZeroDivisionError`` if x S underflows to 0, which numpy answers with inf.
    """
    bad_x = not (x > 0.0 and x < 1.0)
    bad_q = not (Q > 0.0 and math.isfinite(Q))
    bad_s = not (sqrt_s > 0.0 and math.isfinite(sqrt_s))
    if bad_x or bad_q or bad_s:
        return False, math.nan, (False, False, False)
    y = inelasticity(x, Q, sqrt_s)
    valid = (
        z > 0.0 and z < 1.0
        and PT >= 0.0 and math.isfinite(PT)
        and not y > 1.0
        and not w_squared(x, Q) < W_THRESHOLD**2
        and not (x < grid.x_min or x > grid.x_max)
        and not (Q < grid.q_min or Q > grid.q_max)
    )  # fmt: skip
    flags = (PT > 0.5 * z * Q, y < Y_ACCEPTANCE[0] or y > Y_ACCEPTANCE[1], z > Z_SINGULAR)
    return valid, y, flags


__all__ = [
    "FLAGS",
    "DomainCheck",
    "check_domain",
    "check_point",
    "inelasticity",
    "w_squared",
    "x_range_physical",
]
