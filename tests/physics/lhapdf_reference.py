"""Slow scalar reference twin of LHAPDF 6's ``logcubic`` interpolation.

Written straight from LHAPDF 6.2 (src/LogBicubicInterpolator.cc:
``_interpolateXQ2``, ``_dxf_dlogx``, ``_interpolateCubic``; src/GridPDF.cc and
include/LHAPDF/KnotArray.h for the subgrid choice and ``ixbelow`` /
``iq2below``), one point at a time with ``math``. It shares no code with
``physics.pdf``, not even the file reader, so the fast precomputed-coefficient
path is tested against an independent transcription of the algorithm.

Version note: LHAPDF 6.2 falls back to bilinear in (ln x, ln Q²) when a
subgrid has fewer than 4 Q knots; LHAPDF >= 6.4 only does so for 2 knots and
runs the cubic scheme on 3-knot subgrids. ``physics.pdf`` follows 6.2, and so
does this twin.
"""

import bisect
import math
from dataclasses import dataclass


@dataclass
class Knots:
    """One subgrid as LHAPDF holds it: x knots, Q² knots and x·f[pid][ix][iq2]."""

    xs: list[float]
    q2s: list[float]
    logxs: list[float]
    logq2s: list[float]
    xf: dict[int, list[list[float]]]


def read_knots(path) -> list[Knots]:
    """Subgrids of an ``lhagrid1`` file, lowest Q first (x is the outer loop of each block)."""
    with open(path) as f:
        blocks = f.read().split("---")
    subgrids = []
    for block in blocks[1:]:
        lines = [line for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        xs = [float(v) for v in lines[0].split()]
        qs = [float(v) for v in lines[1].split()]
        pids = [21 if int(v) == 0 else int(v) for v in lines[2].split()]
        xf = {pid: [[0.0] * len(qs) for _ in xs] for pid in pids}
        rows = iter(lines[3:])
        for ix in range(len(xs)):
            for iq in range(len(qs)):
                for pid, v in zip(pids, next(rows).split(), strict=True):
                    xf[pid][ix][iq] = float(v)
        q2s = [q * q for q in qs]
        subgrids.append(Knots(xs, q2s, [math.log(x) for x in xs], [math.log(q2) for q2 in q2s], xf))
    return subgrids


def _below(knots: list[float], value: float) -> int:
    """KnotArray1F::ixbelow: index of the knot <= value, never the last knot."""
    if value < knots[0] or value > knots[-1]:
        raise ValueError(f"{value} outside knots [{knots[0]}, {knots[-1]}]")
    i = bisect.bisect_right(knots, value)
    if i == len(knots):
        i -= 1
    return i - 1


def _interpolate_linear(x, xl, xh, yl, yh):
    return yl + (x - xl) / (xh - xl) * (yh - yl)


def _interpolate_cubic(t, vl, vdl, vh, vdh):
    t2 = t * t
    t3 = t2 * t
    return (
        (2 * t3 - 3 * t2 + 1) * vl
        + (t3 - 2 * t2 + t) * vdl
        + (-2 * t3 + 3 * t2) * vh
        + (t3 - t2) * vdh
    )


def _dxf_dlogx(g: Knots, xf, ix: int, iq2: int) -> float:
    """d(xf)/d ln x at knot ix: central difference, forward/backward at the ends."""
    nx = len(g.xs)
    if ix != 0 and ix != nx - 1:
        lddx = (xf[ix][iq2] - xf[ix - 1][iq2]) / (g.logxs[ix] - g.logxs[ix - 1])
        rddx = (xf[ix + 1][iq2] - xf[ix][iq2]) / (g.logxs[ix + 1] - g.logxs[ix])
        return (lddx + rddx) / 2.0
    if ix == 0:
        return (xf[ix + 1][iq2] - xf[ix][iq2]) / (g.logxs[ix + 1] - g.logxs[ix])
    return (xf[ix][iq2] - xf[ix - 1][iq2]) / (g.logxs[ix] - g.logxs[ix - 1])


def _interpolate_xq2(g: Knots, xf, x: float, ix: int, q2: float, iq2: int) -> float:
    """LogBicubicInterpolator::_interpolateXQ2 for one flavour of one subgrid."""
    logx = math.log(x)
    logq2 = math.log(q2)
    iq2max = len(g.q2s) - 1
    if len(g.q2s) < 4:
        f_ql = _interpolate_linear(logx, g.logxs[ix], g.logxs[ix + 1], xf[ix][iq2], xf[ix + 1][iq2])
        f_qh = _interpolate_linear(
            logx, g.logxs[ix], g.logxs[ix + 1], xf[ix][iq2 + 1], xf[ix + 1][iq2 + 1]
        )
        return _interpolate_linear(logq2, g.logq2s[iq2], g.logq2s[iq2 + 1], f_ql, f_qh)

    dlogx_1 = g.logxs[ix + 1] - g.logxs[ix]
    tlogx = (logx - g.logxs[ix]) / dlogx_1
    dlogq_0 = g.logq2s[iq2] - g.logq2s[iq2 - 1] if iq2 != 0 else -1.0
    dlogq_1 = g.logq2s[iq2 + 1] - g.logq2s[iq2]
    dlogq_2 = g.logq2s[iq2 + 2] - g.logq2s[iq2 + 1] if iq2 + 1 != iq2max else -1.0
    tlogq = (logq2 - g.logq2s[iq2]) / dlogq_1

    def xspline(iq):
        return _interpolate_cubic(
            tlogx,
            xf[ix][iq],
            _dxf_dlogx(g, xf, ix, iq) * dlogx_1,
            xf[ix + 1][iq],
            _dxf_dlogx(g, xf, ix + 1, iq) * dlogx_1,
        )

    vl = xspline(iq2)
    vh = xspline(iq2 + 1)
    if iq2 > 0 and iq2 + 1 < iq2max:
        vll = xspline(iq2 - 1)
        vdl = ((vh - vl) / dlogq_1 + (vl - vll) / dlogq_0) / 2.0
        vhh = xspline(iq2 + 2)
        vdh = ((vh - vl) / dlogq_1 + (vhh - vh) / dlogq_2) / 2.0
    elif iq2 == 0:
        vdl = (vh - vl) / dlogq_1
        vhh = xspline(iq2 + 2)
        vdh = (vdl + (vhh - vh) / dlogq_2) / 2.0
    else:  # iq2 + 1 == iq2max
        vdh = (vh - vl) / dlogq_1
        vll = xspline(iq2 - 1)
        vdl = (vdh + (vl - vll) / dlogq_0) / 2.0
    return _interpolate_cubic(tlogq, vl, vdl * dlogq_1, vh, vdh * dlogq_1)


def xfxq2(subgrids: list[Knots], pid: int, x: float, q2: float) -> float:
    """x·f(x, Q²) as LHAPDF's GridPDF::_xfxQ2 with the logcubic interpolator (no extrapolation).

    The subgrid is the last one whose lowest Q² is <= q2 (std::map::upper_bound then step
    back), so a point on a shared boundary knot belongs to the upper subgrid.
    """
    pid = 21 if pid == 0 else pid
    starts = [g.q2s[0] for g in subgrids]
    isub = bisect.bisect_right(starts, q2) - 1
    if isub < 0 or q2 > subgrids[-1].q2s[-1]:
        raise ValueError(f"Q² = {q2} outside the grid")
    g = subgrids[isub]
    if pid not in g.xf:
        return 0.0
    return _interpolate_xq2(g, g.xf[pid], x, _below(g.xs, x), q2, _below(g.q2s, q2))
