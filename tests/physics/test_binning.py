"""Binned dσ/dP_T² against brute-force integration of the point engine."""

import numpy as np
import pytest

import physics
from physics.binning import PT_MIN_AT_Z1, Bin, BinError, Nodes, binned
from physics.channels import OUTPUTS

STUDY_BINS = [
    Bin(x, z, Q)
    for x in ((0.05, 0.1), (0.1, 0.5), (0.001, 0.01))
    for z in ((0.1, 0.4), (0.4, 1.0))
    for Q in ((10.0, 30.0), (30.0, 50.0), (2.0, 5.0))
]
PT = np.array([0.001, 0.05, 0.3, 1.0, 3.0, 5.0])


def brute_force(b: Bin, pt: float, sqrt_s=63.0, n=(480, 48, 240)):
    """Sum of the point engine over the bin, unphysical points counting zero.

    Midpoint rule in ln x and ln Q (the physical boundary cuts across those
    cells), Gauss–Legendre in z (smooth and unconstrained).
    """
    lx = np.linspace(np.log(b.x[0]), np.log(b.x[1]), n[0] + 1)
    lq = np.linspace(np.log(b.Q[0]), np.log(b.Q[1]), n[2] + 1)
    t, wz = np.polynomial.legendre.leggauss(n[1])
    half = 0.5 * (b.z[1] - b.z[0])
    mz, wz = b.z[0] + half * (t + 1), half * wz
    mx, mq = (0.5 * (e[1:] + e[:-1]) for e in (lx, lq))
    X, Z, LQ = np.meshgrid(mx, mz, mq, indexing="ij")
    W = np.broadcast_to(wz[None, :, None], X.shape).ravel()
    x, Q = np.exp(X.ravel()), np.exp(LQ.ravel())
    r = physics.evaluate(x, Z.ravel(), Q, pt, sqrt_s=sqrt_s)
    jac = x * 2 * Q * Q * W  # dx dQ^2 dz = x 2Q^2 dlnx dlnQ dz
    cell = np.diff(lx)[0] * np.diff(lq)[0]
    return {name: float(np.nansum(r[name] * jac) * cell) for name in OUTPUTS}


@pytest.mark.parametrize(
    ("b", "pt"),
    [
        (Bin((0.1, 0.5), (0.1, 0.4), (10.0, 30.0)), 0.3),  # cut by y <= 1 at large Q
        (Bin((0.05, 0.1), (0.2, 0.6), (15.0, 30.0)), 1.0),  # y > 1 above Q = 20 GeV
        (Bin((0.3, 0.9), (0.3, 0.8), (2.0, 6.0)), 0.5),  # cut by the W threshold
    ],
)
def test_binned_equals_brute_force_integration_of_the_point_engine(b, pt):
    got = binned([b], [pt])
    want = brute_force(b, pt)
    assert got.physical[0]
    for name in OUTPUTS:
        # the midpoint sum across the sharp physical boundary converges slowly (O(h),
        # oscillating): measured within 3e-4 of the binned value at this resolution
        assert got.sigma[name][0, 0] == pytest.approx(want[name], rel=1e-3), name


def test_default_rule_converged_to_1e6():
    coarse = binned(STUDY_BINS, PT)
    fine = binned(STUDY_BINS, PT, nodes=Nodes(256, 128, 256))
    assert coarse.physical.sum() >= 10
    for name in OUTPUTS:
        a, b = coarse.sigma[name], fine.sigma[name]
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=0.0, err_msg=name)


def test_a_bin_entirely_outside_the_physical_region_is_zero():
    # x < Q^2/S everywhere: y > 1
    got = binned([Bin((0.01, 0.02), (0.4, 1.0), (30.0, 50.0))], PT)
    assert not got.physical[0]
    for name in OUTPUTS:
        assert np.all(got.sigma[name] == 0.0)


def test_bins_add_up():
    whole = binned([Bin((0.1, 0.5), (0.4, 1.0), (10.0, 30.0))], PT)
    parts = binned(
        [
            Bin((0.1, 0.2), (0.4, 0.7), (10.0, 30.0)),
            Bin((0.2, 0.5), (0.4, 0.7), (10.0, 30.0)),
            Bin((0.1, 0.5), (0.7, 1.0), (10.0, 17.0)),
            Bin((0.1, 0.5), (0.7, 1.0), (17.0, 30.0)),
        ],
        PT,
    )
    for name in OUTPUTS:
        np.testing.assert_allclose(parts.sigma[name].sum(axis=0), whole.sigma[name][0], rtol=1e-6)


@pytest.mark.parametrize(
    ("edges", "message"),
    [
        (dict(x=(0.5, 0.1), z=(0.1, 0.4), Q=(10, 30)), "x edges [0.5, 0.1] need lo < hi"),
        (dict(x=(0.1, 0.5), z=(0.0, 0.4), Q=(10, 30)), "diverges as 1/z"),
        (dict(x=(0.1, 1.5), z=(0.1, 0.4), Q=(10, 30)), "x edges [0.1, 1.5] must lie in [0.0, 1.0]"),
        (
            dict(x=(0.1, 0.5), z=(0.1, 0.4), Q=(10, float("nan"))),
            "Q edges [10, nan] must be finite",
        ),
    ],
)
def test_malformed_bins_are_refused_with_the_edge_named(edges, message):
    with pytest.raises(
        ValueError,
        match=r"bin 0: .*"
        + message.replace("[", r"\[")
        .replace("]", r"\]")
        .replace(".", r"\.")
        .replace("(", r"\(")
        .replace(")", r"\)"),
    ):
        binned([edges], [1.0])


def test_bin_errors_carry_the_index_of_the_bin():
    good = Bin((0.1, 0.5), (0.1, 0.4), (10, 30))
    with pytest.raises(BinError) as err:
        binned([good, good, dict(x=(0.5, 0.1), z=(0.1, 0.4), Q=(10, 30))], [1.0])
    assert err.value.index == 2 and str(err.value).startswith("bin 2: x edges")
    with pytest.raises(BinError) as err:
        binned([good, Bin((0.1, 0.5), (0.4, 1.0), (10, 30))], [0.0])
    assert err.value.index == 1 and "sing3s1_U" in err.value.message


def test_negative_pt_is_refused():
    with pytest.raises(ValueError, match="PT values must be finite and >= 0"):
        binned([Bin((0.1, 0.5), (0.1, 0.4), (10, 30))], [1.0, -0.5])


@pytest.mark.parametrize("pt", [0.0, 1e-300, 1e-12, 9.99e-4])
def test_tiny_pt_with_z_up_to_one_is_refused_for_the_singlet(pt):
    # regression: P_T = 0 was refused but P_T = 1e-300 returned a finite number
    b = Bin((0.1, 0.5), (0.4, 1.0), (10, 30))
    with pytest.raises(ValueError, match=r"sing3s1_U integral grows as ln\(M/PT\)"):
        binned([b], [pt, 1.0])
    at_threshold = binned([b], [PT_MIN_AT_Z1])
    assert np.isfinite(at_threshold.sigma["sing3s1_U"]).all()
    fragmentation_only = binned([b], [0.0], channels=("oct3s1_U", "oct3s1_L"))
    assert np.isfinite(fragmentation_only.sigma["oct3s1_U"]).all()
    below_one = binned([Bin((0.1, 0.5), (0.4, 0.99), (10, 30))], [0.0])
    assert np.isfinite(below_one.sigma["total_U"]).all()


@pytest.mark.parametrize("sqrt_s", [1e300, 5e-324, 3.0, float("nan")])
def test_beam_energies_without_a_physical_region_are_refused(sqrt_s):
    with pytest.raises(ValueError, match="sqrt_s"):
        binned([Bin((0.1, 0.5), (0.1, 0.4), (10, 30))], [1.0], sqrt_s=sqrt_s)
