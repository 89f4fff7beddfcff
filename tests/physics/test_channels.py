"""The vectorised channels against scalar twins and hand-checkable identities."""

import math

import numpy as np
import pytest

import physics
from physics.channels import CHANNELS
from physics.config import LDME, TheoryConfig
from physics.coupling import alpha_s
from physics.pdf import load_pdf
from physics.points import number_densities
from tests.physics import reference


def random_physical(n, seed, sqrt_s=63.0):
    """Random physical points at one beam energy, log-uniform in x and Q."""
    rng = np.random.default_rng(seed)
    s = sqrt_s**2
    Q = np.exp(rng.uniform(np.log(1.7), np.log(0.95 * sqrt_s), 20 * n))
    x = np.exp(rng.uniform(np.log(1e-5), 0.0, 20 * n))
    ok = (Q**2 / (x * s) <= 1) & (Q**2 * (1 - x) / x + 0.938272**2 >= 4.038272**2)
    x, Q = x[ok][:n], Q[ok][:n]
    assert x.size == n
    z = rng.uniform(0.01, 0.99, n)
    PT = rng.uniform(0.0, 6.0, n)
    return x, z, Q, PT


def test_one_loop_coupling_matches_the_spec_values():
    # physics.md, "Constants": alpha_s(M) = 0.29901, alpha_s(30 GeV) = 0.16356
    assert alpha_s(3.1) == pytest.approx(0.29901, abs=5e-6)
    assert alpha_s(30.0) == pytest.approx(0.16356, abs=5e-6)


@pytest.mark.parametrize("sqrt_s", [29.0, 63.0, 141.0])
def test_vectorised_channels_equal_the_scalar_twin(sqrt_s):
    x, z, Q, PT = random_physical(400, seed=int(sqrt_s), sqrt_s=sqrt_s)
    result = physics.evaluate(x, z, Q, PT, sqrt_s=sqrt_s)
    assert result["valid"].all()
    pdf = load_pdf()
    for i in range(x.size):
        # the twin's densities come from single-flavour xfxQ calls, not the combined grid
        xi, Qi = x[i], Q[i]
        g = max(float(pdf.xfxQ(21, xi, Qi)[0]), 0.0) / xi
        qeff = (
            max(
                sum(
                    e2 * float(pdf.xfxQ(pid, xi, Qi)[0])
                    for pid, e2 in (
                        (2, 4 / 9),
                        (-2, 4 / 9),
                        (1, 1 / 9),
                        (-1, 1 / 9),
                        (3, 1 / 9),
                        (-3, 1 / 9),
                    )
                ),
                0.0,
            )
            / xi
        )
        want = reference.channels(xi, z[i], Qi, PT[i], sqrt_s, g, qeff)
        for ch in CHANNELS:
            assert result[ch][i] == pytest.approx(want[ch], rel=1e-10, abs=0.0), (ch, i)
        assert result["total_U"][i] == pytest.approx(
            sum(want[c] for c in CHANNELS if c.endswith("_U")), rel=1e-10
        )
        assert result["total_L"][i] == pytest.approx(
            sum(want[c] for c in CHANNELS if c.endswith("_L")), rel=1e-10
        )


def test_ldme_overrides_enter_linearly_and_only_their_channels():
    x, z, Q, PT = random_physical(200, seed=7)
    base = physics.evaluate(x, z, Q, PT)
    ldme = LDME(O3S1_8=2 * 0.3e-2, O1S0_8=3 * 8.9e-2, O3S1_1=0.5 * 1.16, O3P0_8=0.0)
    changed = physics.evaluate(x, z, Q, PT, theory=TheoryConfig(ldme=ldme))
    factor = {"oct3s1": 2.0, "oct1s0": 3.0, "sing3s1": 0.5, "oct3p0": 0.0}
    for ch in CHANNELS:
        np.testing.assert_allclose(changed[ch], factor[ch[:-2]] * base[ch], rtol=1e-12)


def test_oct1s0_longitudinal_is_a_third_of_unpolarised():
    x, z, Q, PT = random_physical(500, seed=3)
    r = physics.evaluate(x, z, Q, PT)
    np.testing.assert_allclose(r["oct1s0_L"], r["oct1s0_U"] / 3, rtol=1e-14)


def test_fragmentation_unpolarised_equals_longitudinal_at_zero_pt():
    # D1(PT=0) = 2K/M^2, so 3 D1 = 6K/M^2 = D1 - D1LL
    x, z, Q, _ = random_physical(300, seed=4)
    r = physics.evaluate(x, z, Q, np.zeros_like(x))
    np.testing.assert_allclose(r["oct3s1_L"], r["oct3s1_U"], rtol=1e-12)
    small = physics.evaluate(x, z, Q, np.full_like(x, 1e-6))  # corrections ~ PT^2 / (M^2 (1 - z))
    np.testing.assert_allclose(small["oct3s1_L"], small["oct3s1_U"], rtol=1e-8)


def test_channel_ratios_that_cancel_the_pdfs():
    x, z, Q, PT = random_physical(500, seed=5)
    r = physics.evaluate(x, z, Q, PT)
    y = r["y"]
    M, zt, zb = 3.1, 2 - z, 1 - z
    # sing3s1_L / sing3s1_U = PT^2 / [PT^2 + zb^2 M^2 (2 - z zt)]
    np.testing.assert_allclose(
        r["sing3s1_L"] / r["sing3s1_U"], PT**2 / (PT**2 + zb**2 * M**2 * (2 - z * zt)), rtol=1e-12
    )
    # oct3s1_L / oct3s1_U = 6 M^2 (1-z)^2 / (3 [PT^2 z^2 (z^2-2z+2) + 2 M^2 (1-z)^2])
    want = 6 * M**2 * zb**2 / (3 * (PT**2 * z**2 * (z**2 - 2 * z + 2) + 2 * M**2 * zb**2))
    np.testing.assert_allclose(r["oct3s1_L"] / r["oct3s1_U"], want, rtol=1e-10)
    # oct3p0_U / oct1s0_U = 2 P_U O3P0 / (M^2 zt^2 Y O1S0): the gluon, G and F cancel
    P_U = y**2 * (8 + z * (3 * z - 8)) + 8 * (1 - y) * zt - 2 * (1 - y) * z * zt**2
    Y = 1 - y + y**2 / 2
    want = 2 * P_U * ((M / 2) ** 2 * 0.56e-2) / (M**2 * zt**2 * Y * 8.9e-2)
    ok = r["oct1s0_U"] > 1e-280  # where the Gaussians have not underflowed
    np.testing.assert_allclose((r["oct3p0_U"] / r["oct1s0_U"])[ok], want[ok], rtol=1e-10)


def test_ud_option_swaps_only_the_quark_combination():
    x, z, Q, PT = random_physical(300, seed=6)
    full = physics.evaluate(x, z, Q, PT)
    ud = physics.evaluate(x, z, Q, PT, theory=TheoryConfig(quarks="ud"))
    pdf = load_pdf()
    q_ud = (4 / 9) * pdf.xfxQ(2, x, Q) + (1 / 9) * pdf.xfxQ(1, x, Q)
    _, q_full = number_densities(pdf, "full", x, Q)
    np.testing.assert_allclose(
        ud["oct3s1_U"] / full["oct3s1_U"], np.maximum(q_ud, 0) / x / q_full, rtol=1e-10
    )
    for ch in ("oct1s0_U", "oct3p0_L", "sing3s1_U"):
        np.testing.assert_array_equal(ud[ch], full[ch])


def test_photon_gluon_fusion_is_gaussian_in_pt():
    x, z, Q, _ = random_physical(100, seed=8)
    a = physics.evaluate(x, z, Q, np.full_like(x, 0.5))
    b = physics.evaluate(x, z, Q, np.full_like(x, 1.0))
    np.testing.assert_allclose(
        b["oct1s0_U"] / a["oct1s0_U"], math.exp(-(1.0 - 0.25) / 0.25), rtol=1e-12
    )
