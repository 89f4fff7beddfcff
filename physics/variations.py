"""Theory variations: LDME sets, scale variations and PDF sets as uncertainty bands.

The definition is ``docs/physics.md``, "Theory variations": three independent
sources, each an envelope per output of the central value and its variations
(lo ≤ central ≤ hi; totals enveloped as totals), combined in quadrature.

Method. Every channel is (kinematic kernel) × (one parton density) × (one
LDME) × (a power of α_s), and nothing else depends on the theory choices:

- oct3s1: q_eff(x, μ_F) · ⟨O(³S₁[8])⟩ · α_s(ξ_R M)²;
- oct1s0, oct3p0: g(x, μ_F) · ⟨O⟩ · α_s(ξ_R · 30 GeV);
- sing3s1: g(x, μ_F) · ⟨O(³S₁[1])⟩ · α_s(ξ_R · 30 GeV)².

So the kernels (every channel with unit densities and unit LDMEs) are
evaluated once; each distinct (PDF set, ξ_F) costs one more pair of PDF
interpolations; every LDME set and every ξ_R is then a vector of eight
coefficients, and all variations of a block of points are one broadcast
product. Binned results work the same way with the (x, Q²) integrals of the
kernels in place of their values (``binned_bands``).

Scales: μ_R = ξ_R M (fragmentation) and ξ_R · 30 GeV (photon–gluon fusion),
μ_F = ξ_F Q; "7-point" and "3-point" as in the physics document. A variation
whose ξ_F·Q (or, for the PDF source, whose x and Q) lies off that set's grid
is left out of the point's envelope and the point carries the flag
``scale_band_incomplete`` (``pdf_band_incomplete``).

Accuracy: a variation's values agree with the scalar reference twin with ξ
applied by hand to 1e-12 (``tests/physics/test_variations.py``); the central
value inside the envelope is the engine's own, bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from physics.binning import BinnedResult, Nodes, xq_nodes, z_integrals
from physics.channels import (
    ALPHA_S_PGF,
    CHANNELS,
    OUTPUTS,
    XQ_FACTORS,
    combine,
    xq_factors,
    zpt_terms,
)
from physics.config import LDME, TheoryConfig
from physics.constants import M_JPSI, MU_PGF
from physics.coupling import alpha_s
from physics.fragmentation import ALPHA_S_FRAG
from physics.ldme import CHANNEL_LDME, LDMESet
from physics.pdf import load_pdf
from physics.points import CHUNK, Evaluation, number_densities

SCALE_CHOICES: dict[str, tuple[tuple[float, float], ...]] = {
    "3-point": ((0.5, 0.5), (2.0, 2.0)),
    "7-point": ((0.5, 0.5), (2.0, 2.0), (1.0, 0.5), (1.0, 2.0), (0.5, 1.0), (2.0, 1.0)),
}
"""(ξ_R, ξ_F) of each scheme besides the central (1, 1)."""

SOURCES = ("ldme", "scale", "pdf")
SCALE_BAND_INCOMPLETE = "scale_band_incomplete"
PDF_BAND_INCOMPLETE = "pdf_band_incomplete"
BAND_FLAGS = (SCALE_BAND_INCOMPLETE, PDF_BAND_INCOMPLETE)

UNIT_LDME = LDME(O3S1_8=1.0, O3S1_1=1.0, O1S0_8=1.0, O3P0_8=1.0)

_QUARK_ROWS = np.array([ch.startswith("oct3s1") for ch in CHANNELS])
_U_ROWS = [i for i, ch in enumerate(CHANNELS) if ch.endswith("_U")]
_L_ROWS = [i for i, ch in enumerate(CHANNELS) if ch.endswith("_L")]


@dataclass(frozen=True)
class Uncertainty:
    """Which variations to evaluate: LDME sets, a scale scheme, PDF set names."""

    ldme_sets: tuple[LDMESet, ...] = ()
    scales: str | None = None
    pdf_sets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.scales is not None and self.scales not in SCALE_CHOICES:
            raise ValueError(f"scales must be one of {list(SCALE_CHOICES)} or None")

    @property
    def sources(self) -> tuple[str, ...]:
        """The requested sources, in ``SOURCES`` order."""
        asked = {"ldme": bool(self.ldme_sets), "scale": self.scales is not None}
        asked["pdf"] = bool(self.pdf_sets)
        return tuple(s for s in SOURCES if asked[s])


def alpha_ratios(xi_r: float) -> dict[str, float]:
    """α_s factors of a renormalisation-scale variation relative to the central scales.

    frag = (α_s(ξ_R M)/α_s(M))², pgf = α_s(ξ_R·30 GeV)/α_s(30 GeV), sing = pgf².
    """
    frag = alpha_s(xi_r * M_JPSI) / ALPHA_S_FRAG
    pgf = alpha_s(xi_r * MU_PGF) / ALPHA_S_PGF
    return {"frag": frag * frag, "pgf": pgf, "sing": pgf * pgf}


def coefficients(ldme: LDME, xi_r: float = 1.0) -> np.ndarray:
    """LDME × α_s ratio per channel (``CHANNELS`` order): kernel·density × this = channel."""
    r = alpha_ratios(xi_r)
    group = {"oct3s1": "frag", "oct1s0": "pgf", "oct3p0": "pgf", "sing3s1": "sing"}
    return np.array([getattr(ldme, CHANNEL_LDME[ch]) * r[group[ch[:-2]]] for ch in CHANNELS])


@dataclass
class Bands:
    """Envelopes per output (arrays shaped like the central values; NaN where invalid).

    ``lo``/``hi`` combine the requested sources in quadrature; ``sources``
    maps each source to its own (lo, hi); ``flag_masks`` marks points (bins)
    where a variation was left out.
    """

    lo: dict[str, np.ndarray]
    hi: dict[str, np.ndarray]
    sources: dict[str, tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]
    flag_masks: dict[str, np.ndarray] = field(default_factory=dict)


# A variation: (density key, coefficient vector); a density key: (PDF set, ξ_F).
_Variation = tuple[tuple[str, float], np.ndarray]


def _plan(theory: TheoryConfig, unc: Uncertainty) -> dict[str, list[_Variation]]:
    """The variations of each requested source."""
    central = (theory.pdf_set, 1.0)
    plan: dict[str, list[_Variation]] = {}
    if unc.ldme_sets:
        plan["ldme"] = [(central, coefficients(s.ldme)) for s in unc.ldme_sets]
    if unc.scales is not None:
        plan["scale"] = [
            ((theory.pdf_set, xf), coefficients(theory.ldme, xr))
            for xr, xf in SCALE_CHOICES[unc.scales]
        ]
    if unc.pdf_sets:
        c0 = coefficients(theory.ldme)
        plan["pdf"] = [((name, 1.0), c0) for name in unc.pdf_sets]
    return plan


def _densities(pdf, quarks: str, x, Q, xi_f: float, located: dict, on_grid: bool = False):
    """(g, q_eff) at (x, ξ_F Q) and where that point lies on the grid (elsewhere values are
    placeholders taken at the nearest grid point). ``on_grid``: the caller knows every
    point is on it (the central set at ξ_F = 1 for valid points). ``located`` caches the
    points' grid cells per (knots, ξ_F) across sets of one family."""
    if on_grid:
        ok = np.ones(x.shape, dtype=bool)
        xs, qs = x, Q
    else:
        qf = xi_f * Q
        ok = pdf.in_grid(x, qf)
        xs = np.clip(x, pdf.x_min, pdf.x_max)
        qs = np.clip(qf, pdf.q_min, pdf.q_max)
    key = (pdf.knots, xi_f)
    cells = located.get(key)
    if cells is None:
        q2 = qs * qs
        cells = located[key] = pdf.locate_log(np.log(xs), np.log(q2), q2)
    g, q = number_densities(pdf, quarks, xs, qs, cells)
    return g, q, ok


def _weight_rows(kernel: np.ndarray, g, q) -> np.ndarray:
    """kernel (8, m) × the density of each channel: q_eff for oct3s1, g for the rest."""
    return kernel * np.where(_QUARK_ROWS[:, None], q, g)


def _envelope(
    central: Mapping[str, np.ndarray],
    weighted: Mapping[tuple[str, float], np.ndarray],
    ok: Mapping[tuple[str, float], np.ndarray],
    variations: Sequence[_Variation],
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """Envelope of the central values and the variations, per output; and the mask of
    entries where some variation was left out (off the grid).

    A channel of variation v is coef[v, ch] · weighted[ch], and weighted[ch] ≥ 0 (a
    kernel with unit LDMEs, non-negative in the physical domain as the property test of
    ``tests/physics/test_points.py`` shows, times a density clipped at zero): its extremes
    over v are weighted[ch] times the extreme coefficients. The totals need every
    variation: one (V, 4) × (4, m) product each.
    """
    lo: dict[str, np.ndarray] = {}
    hi: dict[str, np.ndarray] = {}
    incomplete = np.zeros(np.shape(central["total_U"]), dtype=bool)

    def fold(name, v_lo, v_hi, keep):
        c = central[name]
        if keep is not None:  # left-out variations fall back to the central value
            v_lo = np.where(keep, v_lo, c)
            v_hi = np.where(keep, v_hi, c)
        if name in lo:
            np.minimum(lo[name], v_lo, out=lo[name])
            np.maximum(hi[name], v_hi, out=hi[name])
        else:
            lo[name] = np.minimum(c, v_lo)
            hi[name] = np.maximum(c, v_hi)

    for key in dict.fromkeys(k for k, _ in variations):
        coef = np.array([c for k, c in variations if k == key])  # (V, 8)
        w = weighted[key]  # (8, ...)
        good = ok[key]
        incomplete |= ~good
        keep = None if good.all() else good
        c_min, c_max = coef.min(axis=0), coef.max(axis=0)
        for i, ch in enumerate(CHANNELS):
            fold(ch, w[i] * c_min[i], w[i] * c_max[i], keep)
        flat = w.reshape(len(CHANNELS), -1)
        for name, rows in (("total_U", _U_ROWS), ("total_L", _L_ROWS)):
            tot = (coef[:, rows] @ flat[rows]).reshape((coef.shape[0], *w.shape[1:]))
            fold(name, tot.min(axis=0), tot.max(axis=0), keep)
    return lo, hi, incomplete


def combine_in_quadrature(
    central: Mapping[str, np.ndarray], sources: Mapping[str, tuple[Mapping, Mapping]]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """hi = c + sqrt(Σ_s (hi_s − c)²), lo = c − sqrt(Σ_s (c − lo_s)²), per output."""
    lo, hi = {}, {}
    for k in OUTPUTS:
        c = np.asarray(central[k], dtype=float)
        up = np.zeros_like(c)
        down = np.zeros_like(c)
        d = np.empty_like(c)
        for s_lo, s_hi in sources.values():
            np.subtract(s_hi[k], c, out=d)
            d *= d
            up += d
            np.subtract(c, s_lo[k], out=d)
            d *= d
            down += d
        np.sqrt(up, out=up)
        np.sqrt(down, out=down)
        up += c
        hi[k] = up
        lo[k] = np.subtract(c, down, out=down)
    return lo, hi


def _flag_masks(shape, incomplete: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {
        SCALE_BAND_INCOMPLETE: incomplete.get("scale", np.zeros(shape, dtype=bool)),
        PDF_BAND_INCOMPLETE: incomplete.get("pdf", np.zeros(shape, dtype=bool)),
    }


def unit_kernels(y, z, Q, PT) -> np.ndarray:
    """Every channel with unit densities, unit LDMEs and central α_s: shape (8, n)."""
    terms = zpt_terms(z, PT, UNIT_LDME)
    out = combine(xq_factors(y, Q, 1.0, 1.0), terms)
    return np.array([np.broadcast_to(out[ch], np.shape(y)) for ch in CHANNELS])


def point_bands(
    x, z, Q, PT, *, theory: TheoryConfig, uncertainty: Uncertainty, central: Evaluation
):
    """Bands at points, around ``central`` = ``physics.evaluate(x, z, Q, PT, sqrt_s=…,
    theory=theory)`` (all channels). Arrays of the points' length; NaN where invalid."""
    x, z, Q, PT = (np.ravel(np.asarray(a, dtype=float)) for a in (x, z, Q, PT))
    n = central.valid.size
    x, z, Q, PT = (np.broadcast_to(a, (n,)) for a in (x, z, Q, PT))
    plan = _plan(theory, uncertainty)
    all_valid = bool(central.valid.all())

    def blank():  # every entry is written below when every point is valid
        return np.empty(n) if all_valid else np.full(n, np.nan)

    src_lo = {s: {k: blank() for k in OUTPUTS} for s in plan}
    src_hi = {s: {k: blank() for k in OUTPUTS} for s in plan}
    incomplete = {s: np.zeros(n, dtype=bool) for s in plan}
    keys = list(dict.fromkeys(k for vs in plan.values() for k, _ in vs))
    idx = np.arange(n) if all_valid else np.flatnonzero(central.valid)
    centre = (theory.pdf_set, 1.0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for start in range(0, idx.size, CHUNK):
            # slices when every point is valid: scattered writes cost more than the maths
            sel = slice(start, start + CHUNK) if all_valid else idx[start : start + CHUNK]
            xb, Qb = x[sel], Q[sel]
            kernel = unit_kernels(central.y[sel], z[sel], Qb, PT[sel])
            weighted: dict = {}
            ok: dict = {}
            located: dict = {}
            for key in keys:
                pdf = load_pdf(key[0])
                found = _densities(pdf, theory.quarks, xb, Qb, key[1], located, key == centre)
                ok[key] = found[2]
                weighted[key] = _weight_rows(kernel, found[0], found[1])
            cen = {k: central[k][sel] for k in OUTPUTS}
            for s, variations in plan.items():
                lo, hi, inc = _envelope(cen, weighted, ok, variations)
                for k in OUTPUTS:
                    src_lo[s][k][sel] = lo[k]
                    src_hi[s][k][sel] = hi[k]
                incomplete[s][sel] = inc
    sources = {s: (src_lo[s], src_hi[s]) for s in plan}
    lo, hi = combine_in_quadrature({k: central[k] for k in OUTPUTS}, sources)
    return Bands(lo, hi, sources, _flag_masks(n, incomplete))


def binned_bands(
    bins,
    PT,
    *,
    sqrt_s: float,
    theory: TheoryConfig,
    uncertainty: Uncertainty,
    central: BinnedResult,
    nodes: Nodes | None = None,
) -> Bands:
    """Bands of binned results, around ``central`` = ``physics.binned(bins, PT, sqrt_s=…,
    theory=theory)`` (all channels). Arrays (n_bins, n_PT) in pb/GeV²; flags per bin."""
    nodes = nodes or Nodes()
    PT = np.asarray(central.PT, dtype=float)
    plan = _plan(theory, uncertainty)
    keys = list(dict.fromkeys(k for vs in plan.values() for k, _ in vs))
    nb = len(bins)
    shape = (nb, PT.size)
    src_lo = {s: {k: np.zeros(shape) for k in OUTPUTS} for s in plan}
    src_hi = {s: {k: np.zeros(shape) for k in OUTPUTS} for s in plan}
    incomplete = {s: np.zeros(nb, dtype=bool) for s in plan}
    unit_theory = replace(theory, ldme=UNIT_LDME)
    pdf0 = load_pdf(theory.pdf_set)
    for i, b in enumerate(bins):
        found = xq_nodes(b, sqrt_s, pdf0, nodes)
        if found is None:  # an unphysical bin: σ = 0 exactly, and so is every variation
            continue
        x, Qn, weight, y = found
        kin = xq_factors(y, Qn, 1.0, 1.0)
        zint = z_integrals(b.z[0], b.z[1], PT, unit_theory, nodes)
        weighted: dict = {}
        ok: dict = {}
        located: dict = {}
        for key in keys:
            g, q, good = _densities(load_pdf(key[0]), theory.quarks, x, Qn, key[1], located)
            dens = {"frag": q, **{k: g for k in XQ_FACTORS if k != "frag"}}
            a = {k: float(np.dot(weight, kin[k] * dens[k])) for k in XQ_FACTORS}
            unit = combine(a, zint)
            weighted[key] = np.array([np.broadcast_to(unit[ch], PT.shape) for ch in CHANNELS])
            ok[key] = np.full(PT.shape, bool(good.all()))
        cen = {k: central.sigma[k][i] for k in OUTPUTS}
        for s, variations in plan.items():
            lo, hi, inc = _envelope(cen, weighted, ok, variations)
            for k in OUTPUTS:
                src_lo[s][k][i] = lo[k]
                src_hi[s][k][i] = hi[k]
            incomplete[s][i] = bool(inc.any())
    sources = {s: (src_lo[s], src_hi[s]) for s in plan}
    lo, hi = combine_in_quadrature(central.sigma, sources)
    return Bands(lo, hi, sources, _flag_masks(nb, incomplete))
