"""Theory variations (physics.variations, physics.ldme): envelopes, scale variations against
the scalar twin with ξ applied by hand, quadrature, negative LDME sets, binned bands."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import physics
from physics.channels import CHANNELS, OUTPUTS
from physics.config import LDME, TheoryConfig
from physics.ldme import CHANNEL_LDME, DEFAULT_LDME_SET, LDME_FIELDS, REGISTRY, LDMESet, get_set
from physics.pdf import load_pdf
from physics.points import NEGATIVE_TOTAL
from physics.variations import (
    PDF_BAND_INCOMPLETE,
    SCALE_BAND_INCOMPLETE,
    SCALE_CHOICES,
    Uncertainty,
    binned_bands,
    point_bands,
)
from tests.physics import reference
from tests.physics.strategies import physical_points
from tests.physics.test_channels import random_physical

# Hand-made sets for the tests (not published fits): one with a negative ³P₀[8] element
NEGATIVE = LDMESet.custom("neg", O3S1_8=2.0e-3, O3S1_1=1.3, O1S0_8=5.0e-2, O3P0_8=-1.6e-2)
LARGE = LDMESet.custom("large", O3S1_8=1.0e-2, O3S1_1=1.0, O1S0_8=1.0e-1, O3P0_8=1.0e-2)
SETS = (REGISTRY[DEFAULT_LDME_SET], NEGATIVE, LARGE)
OTHER_PDF = "NNPDF31_lo_as_0130"


def bands_at(x, z, Q, PT, unc, theory=None, sqrt_s=63.0):
    theory = theory or TheoryConfig()
    central = physics.evaluate(x, z, Q, PT, sqrt_s=sqrt_s, theory=theory)
    return central, point_bands(x, z, Q, PT, theory=theory, uncertainty=unc, central=central)


def test_registry_default_is_the_constants_default_and_every_set_is_documented():
    assert REGISTRY[DEFAULT_LDME_SET].ldme == LDME()
    for s in REGISTRY.values():
        assert s.source.startswith("arXiv:") and s.verified
        assert all(math.isfinite(v) for v in s.vector())
        described = s.describe()
        assert set(described["values"]) == set(LDME_FIELDS)
        assert described["units"]["O3P0_8"] == "GeV^5"
    with pytest.raises(KeyError, match="registered"):
        get_set("NoSuchFit")


def test_negative_ldmes_are_allowed_but_must_be_finite():
    assert LDME(O3P0_8=-0.01).O3P0_8 == -0.01
    with pytest.raises(ValueError, match="finite"):
        LDME(O1S0_8=float("nan"))


@pytest.mark.parametrize("name", [n for n, s in REGISTRY.items() if not s.has_negative])
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(point=physical_points())
def test_non_negative_registered_sets_give_non_negative_channels(name, point):
    x, z, Q, PT, sqrt_s = point
    r = physics.evaluate(x, z, Q, PT, sqrt_s=sqrt_s, theory=TheoryConfig(ldme=REGISTRY[name].ldme))
    assert r["valid"][0]
    for k in OUTPUTS:
        assert r[k][0] >= 0.0, k
    assert NEGATIVE_TOTAL not in r["flags"][0]


def test_negative_set_gives_negative_channels_and_the_negative_total_flag():
    # ³P₀[8] large and negative against a small singlet, so that some totals turn negative
    ldme = LDME(O3S1_8=2.0e-3, O3S1_1=0.1, O1S0_8=5.0e-2, O3P0_8=-0.15)
    x, z, Q, PT = random_physical(2000, seed=11)
    r = physics.evaluate(x, z, Q, PT, theory=TheoryConfig(ldme=ldme))
    assert r["valid"].all()
    assert np.all(r["oct3p0_U"] <= 0.0) and np.any(r["oct3p0_U"] < 0.0)
    negative = (r["total_U"] < 0) | (r["total_L"] < 0)
    assert negative.any() and not negative.all()  # the test can tell flagged from unflagged
    assert [NEGATIVE_TOTAL in f for f in r["flags"]] == negative.tolist()


def test_every_band_holds_the_central_value():
    x, z, Q, PT = random_physical(3000, seed=12)
    unc = Uncertainty(SETS, "7-point", (physics.DEFAULT_PDF_SET, OTHER_PDF))
    central, b = bands_at(x, z, Q, PT, unc)
    for k in OUTPUTS:
        c = central[k]
        assert np.all(b.lo[k] <= c) and np.all(c <= b.hi[k]), k
        for lo, hi in b.sources.values():
            assert np.all(lo[k] <= c) and np.all(c <= hi[k]), k
    # and the bands are not trivially the central value
    assert np.all(b.sources["scale"][1]["total_U"] > central["total_U"])


def test_ldme_band_is_the_min_and_max_of_separate_evaluations():
    x, z, Q, PT = random_physical(1500, seed=13)
    central, b = bands_at(x, z, Q, PT, Uncertainty(SETS))
    each = [physics.evaluate(x, z, Q, PT, theory=TheoryConfig(ldme=s.ldme)) for s in SETS]
    lo, hi = b.sources["ldme"]
    for k in OUTPUTS:
        stack = np.array([central[k]] + [e[k] for e in each])
        np.testing.assert_allclose(lo[k], stack.min(axis=0), rtol=1e-13, atol=0)
        np.testing.assert_allclose(hi[k], stack.max(axis=0), rtol=1e-13, atol=0)


def reference_at_scales(x, z, Q, PT, sqrt_s, xi_r, xi_f, ldme=None):
    """The scalar twin with ξ applied by hand: densities at ξ_F Q (single-flavour xfxQ
    calls), α_s factors (α_s(ξ_R M)/α_s(M))², α_s(ξ_R 30)/α_s(30) and its square."""
    ldme = ldme or LDME()
    pdf = load_pdf()
    qf = xi_f * Q
    g = max(float(pdf.xfxQ(21, x, qf)[0]), 0.0) / x
    quarks = ((2, 4 / 9), (-2, 4 / 9), (1, 1 / 9), (-1, 1 / 9), (3, 1 / 9), (-3, 1 / 9))
    qeff = max(sum(e2 * float(pdf.xfxQ(pid, x, qf)[0]) for pid, e2 in quarks), 0.0) / x
    vals = reference.channels(
        x, z, Q, PT, sqrt_s, g, qeff, **{f: getattr(ldme, f) for f in LDME_FIELDS}
    )
    r_frag = (reference.alpha_s(xi_r * reference.M) / reference.alpha_s(reference.M)) ** 2
    r_pgf = reference.alpha_s(xi_r * 30.0) / reference.alpha_s(30.0)
    factor = {"oct3s1": r_frag, "oct1s0": r_pgf, "oct3p0": r_pgf, "sing3s1": r_pgf**2}
    out = {ch: v * factor[ch[:-2]] for ch, v in vals.items()}
    out["total_U"] = sum(out[c] for c in CHANNELS if c.endswith("_U"))
    out["total_L"] = sum(out[c] for c in CHANNELS if c.endswith("_L"))
    return out


@pytest.mark.parametrize("scheme", ["3-point", "7-point"])
def test_scale_band_equals_the_envelope_of_the_scalar_twin_with_xi_by_hand(scheme):
    x, z, Q, PT = random_physical(200, seed=14)
    keep = Q >= 3.5  # ξ_F Q on the grid for every variation
    x, z, Q, PT = x[keep][:60], z[keep][:60], Q[keep][:60], PT[keep][:60]
    central, b = bands_at(x, z, Q, PT, Uncertainty(scales=scheme))
    assert central["valid"].all() and x.size == 60
    assert not b.flag_masks[SCALE_BAND_INCOMPLETE].any()
    lo, hi = b.sources["scale"]
    for i in range(x.size):
        want = [reference_at_scales(x[i], z[i], Q[i], PT[i], 63.0, 1.0, 1.0)]
        want += [
            reference_at_scales(x[i], z[i], Q[i], PT[i], 63.0, xr, xf)
            for xr, xf in SCALE_CHOICES[scheme]
        ]
        for k in OUTPUTS:
            vals = [w[k] for w in want]
            assert lo[k][i] == pytest.approx(min(vals), rel=1e-10, abs=0.0), (k, i)
            assert hi[k][i] == pytest.approx(max(vals), rel=1e-10, abs=0.0), (k, i)


def test_a_variation_off_the_grid_is_left_out_and_flagged():
    # Q = 2 GeV: ξ_F = 1/2 puts μ_F = 1 GeV below the grid's 1.65 GeV
    x = np.array([0.05, 0.05])
    z = np.array([0.5, 0.5])
    Q = np.array([2.0, 8.0])
    PT = np.array([0.5, 0.5])
    _, b = bands_at(x, z, Q, PT, Uncertainty(scales="7-point"))
    assert b.flag_masks[SCALE_BAND_INCOMPLETE].tolist() == [True, False]
    lo, hi = b.sources["scale"]
    kept = [(1.0, 1.0)] + [(r, f) for r, f in SCALE_CHOICES["7-point"] if f * 2.0 >= 1.65]
    want = [reference_at_scales(0.05, 0.5, 2.0, 0.5, 63.0, r, f) for r, f in kept]
    for k in OUTPUTS:
        assert lo[k][0] == pytest.approx(min(w[k] for w in want), rel=1e-10)
        assert hi[k][0] == pytest.approx(max(w[k] for w in want), rel=1e-10)


def test_pdf_band_is_the_envelope_of_separate_evaluations_with_each_set():
    x, z, Q, PT = random_physical(800, seed=15)
    central, b = bands_at(x, z, Q, PT, Uncertainty(pdf_sets=(OTHER_PDF,)))
    other = physics.evaluate(x, z, Q, PT, theory=TheoryConfig(pdf_set=OTHER_PDF))
    lo, hi = b.sources["pdf"]
    assert not b.flag_masks[PDF_BAND_INCOMPLETE].any()
    for k in OUTPUTS:
        np.testing.assert_allclose(lo[k], np.minimum(central[k], other[k]), rtol=1e-13)
        np.testing.assert_allclose(hi[k], np.maximum(central[k], other[k]), rtol=1e-13)


def test_sources_combine_in_quadrature():
    x, z, Q, PT = random_physical(500, seed=16)
    central, b = bands_at(x, z, Q, PT, Uncertainty(SETS, "3-point", (OTHER_PDF,)))
    assert set(b.sources) == {"ldme", "scale", "pdf"}
    for k in OUTPUTS:
        c = central[k]
        up = sum((hi[k] - c) ** 2 for _, hi in b.sources.values())
        down = sum((c - lo[k]) ** 2 for lo, _ in b.sources.values())
        np.testing.assert_allclose(b.hi[k], c + np.sqrt(up), rtol=1e-14)
        np.testing.assert_allclose(b.lo[k], c - np.sqrt(down), rtol=1e-14)


def test_invalid_points_have_no_band():
    central, b = bands_at([0.2, 0.001], [0.5, 0.5], [20.0, 50.0], [1.0, 1.0], Uncertainty(SETS))
    assert central["valid"].tolist() == [True, False]
    assert np.isfinite(b.hi["total_U"][0]) and np.isnan(b.hi["total_U"][1])


BINS = [
    physics.Bin((0.1, 0.5), (0.1, 0.4), (10.0, 30.0)),
    physics.Bin((0.01, 0.3), (0.4, 1.0), (3.0, 10.0)),
    physics.Bin((0.001, 0.002), (0.4, 1.0), (30.0, 50.0)),  # y > 1 throughout at 63 GeV
]
PTS = [0.25, 1.0, 2.5]


def test_binned_ldme_band_is_the_min_and_max_of_separate_binned_requests():
    central = physics.binned(BINS, PTS, sqrt_s=63.0)
    b = binned_bands(
        BINS, PTS, sqrt_s=63.0, theory=TheoryConfig(), uncertainty=Uncertainty(SETS),
        central=central,
    )  # fmt: skip
    each = [physics.binned(BINS, PTS, theory=TheoryConfig(ldme=s.ldme)) for s in SETS]
    lo, hi = b.sources["ldme"]
    for k in OUTPUTS:
        stack = np.array([central.sigma[k]] + [e.sigma[k] for e in each])
        np.testing.assert_allclose(lo[k], stack.min(axis=0), rtol=1e-10, atol=1e-300)
        np.testing.assert_allclose(hi[k], stack.max(axis=0), rtol=1e-10, atol=1e-300)
    assert np.all(lo["oct3p0_U"][:2] < 0)  # the negative set pulls the band below zero


def test_binned_pdf_band_is_the_envelope_of_separate_binned_requests():
    central = physics.binned(BINS, PTS, sqrt_s=63.0)
    b = binned_bands(
        BINS, PTS, sqrt_s=63.0, theory=TheoryConfig(),
        uncertainty=Uncertainty(pdf_sets=(OTHER_PDF,)), central=central,
    )  # fmt: skip
    other = physics.binned(BINS, PTS, theory=TheoryConfig(pdf_set=OTHER_PDF))
    lo, hi = b.sources["pdf"]
    for k in OUTPUTS:
        np.testing.assert_allclose(lo[k], np.minimum(central.sigma[k], other.sigma[k]), rtol=1e-10)
        np.testing.assert_allclose(hi[k], np.maximum(central.sigma[k], other.sigma[k]), rtol=1e-10)


def test_binned_scale_band_holds_the_central_value_and_responds_to_the_scales():
    central = physics.binned(BINS, PTS, sqrt_s=63.0)
    b = binned_bands(
        BINS, PTS, sqrt_s=63.0, theory=TheoryConfig(),
        uncertainty=Uncertainty(SETS, "7-point", (OTHER_PDF,)), central=central,
    )  # fmt: skip
    for k in OUTPUTS:
        c = central.sigma[k]
        assert np.all(b.lo[k] <= c) and np.all(c <= b.hi[k]), k
    s_lo, s_hi = b.sources["scale"]
    # α_s(M/2)² / α_s(M)² alone moves the fragmentation channel by > 30 %
    assert np.all(s_hi["oct3s1_U"][:2] > 1.3 * central.sigma["oct3s1_U"][:2])
    assert np.all(s_lo["total_U"][:2] < central.sigma["total_U"][:2])
    assert b.flag_masks[SCALE_BAND_INCOMPLETE].tolist() == [False, True, False]  # Q_lo = 3 GeV
    assert np.all(b.hi["total_U"][2] == 0.0)  # the unphysical bin stays exactly zero


def test_channel_ldme_map_covers_every_channel():
    assert set(CHANNEL_LDME) == set(CHANNELS)
    assert set(CHANNEL_LDME.values()) == set(LDME_FIELDS)
