"""The exact engine at points: all eight channels at arbitrary (x, z, Q, P_T).

``evaluate(x, z, Q, PT, sqrt_s=..., theory=...)`` checks every point against
the physical domain (``physics.kinematics``), evaluates the PDFs once per
point (two interpolations: the gluon and the charge-weighted quark sum), and
assembles the channels from their separable form (``physics.channels``).
Points outside the domain get NaN and a reason; they never carry a number.

Choices where ``physics.md`` is silent, documented here once:
- PDFs: interpolated exactly as LHAPDF does; the quark combination and the
  gluon are then clipped at zero. Negative values of an LO density
  combination are artefacts (cubic undershoot next to the zero at x = 1);
  clipping keeps every channel non-negative, as physics requires.
- ``sqrt_s`` is an argument (a scalar or one beam energy per point), not part
  of ``TheoryConfig``: the beam is kinematics, the config is theory.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cached_property

import numpy as np

from physics.channels import CHANNELS, OUTPUTS, UNITS, add_totals, combine, xq_factors, zpt_terms
from physics.config import QUARK_WEIGHTS, TheoryConfig
from physics.constants import SQRT_S_DEFAULT
from physics.kinematics import DomainCheck, check_domain
from physics.pdf import GLUON, GridCells, GridPDF, load_pdf

NEGATIVE_TOTAL = "negative_total"
"""Flag of a valid point whose total_U or total_L is negative (possible only with a
negative LDME, ``physics.ldme``)."""

CHUNK = 32768
"""Points per vectorised block: keeps temporaries in cache (measured fastest on 2 cores)."""


class Evaluation(Mapping):
    """Result of ``evaluate``: a mapping of output name → array, plus per-point reasons and flags.

    Keys: the eight channels, ``total_U``, ``total_L`` (pb/GeV⁴, NaN where
    invalid), ``y``, ``valid`` (bool), ``reasons`` (per point, list of
    violated conditions) and ``flags`` (per point, list of flag names).
    """

    units = UNITS

    def __init__(self, sigma: dict[str, np.ndarray], check: DomainCheck, valid: np.ndarray):
        self.sigma = sigma
        self.check = check
        self.valid = valid
        self.y = np.where(valid, check.y, np.nan)
        self.flag_masks = {name: mask & valid for name, mask in check.flags.items()}
        negative = np.zeros(valid.shape, dtype=bool)
        for name in ("total_U", "total_L"):
            if name in sigma:
                negative |= sigma[name] < 0.0  # NaN (invalid points) compares False
        self.flag_masks[NEGATIVE_TOTAL] = negative & valid

    @cached_property
    def reasons(self) -> list[list[str]]:
        out: list[list[str]] = [[] for _ in range(self.valid.size)]
        for i in np.flatnonzero(~self.valid):
            out[i] = self.check.reasons(int(i))
        return out

    @cached_property
    def flags(self) -> list[list[str]]:
        out: list[list[str]] = [[] for _ in range(self.valid.size)]
        for name, mask in self.flag_masks.items():
            for i in np.flatnonzero(mask):
                out[i].append(name)
        return out

    def __getitem__(self, key: str):
        if key in self.sigma:
            return self.sigma[key]
        if key in ("y", "valid", "reasons", "flags"):
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        yield from self.sigma
        yield from ("y", "valid", "reasons", "flags")

    def __len__(self) -> int:
        return len(self.sigma) + 4


def pdf_factors(pdf: GridPDF, quarks: str):
    """The two interpolants the channels need: x·g and x·q_eff = Σ e_q² x f_q."""
    return pdf.combination({GLUON: 1.0}), pdf.combination(QUARK_WEIGHTS[quarks])


def number_densities(
    pdf: GridPDF, quarks: str, x, Q, cells: GridCells | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """g(x, Q) and q_eff(x, Q) as number densities, clipped at zero (points must be on the grid).

    ``cells``: the points already located on a grid with the same knots (``GridPDF.knots``).
    """
    gluon, quark = pdf_factors(pdf, quarks)
    if cells is None:
        q2 = Q * Q
        cells = pdf.locate_log(np.log(x), np.log(q2), q2)  # ln(Q·Q) as the knots, not 2 ln Q
    inv_x = 1.0 / x
    g = np.maximum(gluon.at(cells), 0.0) * inv_x
    q = np.maximum(quark.at(cells), 0.0) * inv_x
    return g, q


def evaluate(
    x,
    z,
    Q,
    PT,
    *,
    sqrt_s=SQRT_S_DEFAULT,
    theory: TheoryConfig | None = None,
    channels=CHANNELS,
) -> Evaluation:
    """Differential cross sections of every channel at points (x, z, Q [GeV], P_T [GeV]).

    Returns an ``Evaluation`` (see there); channels in pb/GeV⁴. ``sqrt_s`` in
    GeV, a scalar or one per point (default 63 GeV).
    """
    theory = theory or TheoryConfig()
    pdf = load_pdf(theory.pdf_set)
    arrays = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (x, z, Q, PT, sqrt_s)))
    x, z, Q, PT, sqrt_s = (np.ravel(a) for a in arrays)
    check = check_domain(x, z, Q, PT, sqrt_s, pdf)
    valid = check.valid
    n = x.size
    all_valid = bool(valid.all())
    idx = np.arange(n) if all_valid else np.flatnonzero(valid)
    # np.empty: when every point is valid, every entry is written below
    sigma = {
        name: np.empty(n) if all_valid else np.full(n, np.nan)
        for name in (*channels, "total_U", "total_L")
    }
    with_totals = set(CHANNELS) <= set(channels)
    # Extreme but physical inputs (P_T ~ 1e160 GeV, z ~ 1e-320) overflow float64;
    # such points are refused below with their own reason instead of warning.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for start in range(0, idx.size, CHUNK):
            sel = slice(start, start + CHUNK) if all_valid else idx[start : start + CHUNK]
            block = _evaluate_block(
                pdf, theory, x[sel], z[sel], Q[sel], PT[sel], check.y[sel], channels, with_totals
            )
            for name, value in block.items():
                sigma[name][sel] = value
    if not with_totals:
        del sigma["total_U"], sigma["total_L"]
    overflow = np.zeros(n, dtype=bool)
    for value in sigma.values():
        overflow |= ~np.isfinite(value)
    overflow &= valid
    check.violations["overflow"] = overflow
    if overflow.any():
        valid = valid & ~overflow
        for value in sigma.values():
            value[overflow] = np.nan
    return Evaluation(sigma, check, valid)


def _evaluate_block(pdf, theory, x, z, Q, PT, y, channels, with_totals):
    g, q = number_densities(pdf, theory.quarks, x, Q)
    out = combine(xq_factors(y, Q, g, q), zpt_terms(z, PT, theory.ldme), channels)
    if with_totals:
        add_totals(out)
    return out


__all__ = ["CHANNELS", "OUTPUTS", "Evaluation", "evaluate", "number_densities"]
