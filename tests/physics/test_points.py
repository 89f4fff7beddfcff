"""The entry point: mapping shape, refusals with reasons, flags, properties over the domain."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import physics
import physics.points
from physics.channels import OUTPUTS
from physics.kinematics import FLAG_ACCEPTANCE, FLAG_HIGH_Z, FLAG_TMD
from tests.physics.strategies import physical_points


def test_result_is_a_mapping_with_every_output():
    r = physics.evaluate(0.2, 0.5, 20.0, 1.0)
    assert set(r) == {*OUTPUTS, "y", "valid", "reasons", "flags"}
    assert r["valid"].tolist() == [True]
    assert r["y"][0] == pytest.approx(400 / (0.2 * 63.0**2))
    assert r["reasons"] == [[]]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(physical_points())
def test_every_channel_is_finite_and_non_negative_in_the_physical_domain(point):
    x, z, Q, PT, sqrt_s = point
    r = physics.evaluate(x, z, Q, PT, sqrt_s=sqrt_s)
    assert r["valid"][0], r["reasons"][0]
    for name in OUTPUTS:
        v = r[name][0]
        assert math.isfinite(v) and v >= 0.0, (name, v)


def independent_violations(x, z, Q, PT, sqrt_s):
    """The rules of physics.md, written out scalar by scalar."""
    out = set()
    finite = all(math.isfinite(v) for v in (x, Q, sqrt_s))
    if not (0 < x < 1):
        out.add("x")
    if not (0 < z < 1):
        out.add("z")
    if not (math.isfinite(Q) and Q > 0):
        out.add("Q")
    if not (math.isfinite(PT) and PT >= 0):
        out.add("PT")
    if not (math.isfinite(sqrt_s) and sqrt_s > 0):
        out.add("sqrt_s")
    if finite and 0 < x < 1 and Q > 0 and sqrt_s > 0:
        with np.errstate(all="ignore"):  # IEEE semantics at the extremes (x * s underflowing)
            x64, Q64 = np.float64(x), np.float64(Q)
            if Q64 * Q64 / (x64 * sqrt_s * sqrt_s) > 1:
                out.add("y")
            if Q64 * Q64 * (1 - x64) / x64 + 0.938272**2 < 4.038272**2:
                out.add("W")
    if 0 < x < 1 and not (1e-9 <= x <= 1):
        out.add("pdf_x")
    if math.isfinite(Q) and Q > 0 and not (1.65 <= Q <= 1e5):
        out.add("pdf_Q")
    return out


anything = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-0.5, 1.5),
    st.floats(1e-12, 1.0),
)


@settings(max_examples=400, deadline=None)
@given(
    anything,
    anything,
    st.one_of(anything, st.floats(0.0, 2e5)),
    st.one_of(anything, st.floats(0, 50)),
    st.one_of(st.just(63.0), st.floats(-10, 400), st.just(math.nan), st.just(math.inf)),
)
def test_every_point_is_judged_by_the_domain_rules(x, z, Q, PT, sqrt_s):
    r = physics.evaluate(x, z, Q, PT, sqrt_s=sqrt_s)
    want = independent_violations(x, z, Q, PT, sqrt_s)
    if not want and r["reasons"][0] and "overflow" in r["reasons"][0][0]:
        assert z < 1e-200 or PT > 1e100  # only absurd magnitudes may overflow
        return
    assert bool(r["valid"][0]) == (not want)
    if want:
        assert len(r["reasons"][0]) == len(want)
        assert all(np.isnan(r[name][0]) for name in OUTPUTS)
        assert r["flags"][0] == []
    else:
        assert r["reasons"][0] == []


def test_reasons_name_the_condition_and_the_value():
    r = physics.evaluate(
        [0.01, 0.5, 2.0, 0.3, 1e-3],
        [0.5, 0.5, 0.5, 1.2, 0.5],
        [50.0, 2.0, 5.0, 10.0, 1.0],
        [1.0, 1.0, -1.0, 1.0, 0.5],
    )
    assert r["reasons"][0] == ["y = 63 > 1"]
    # W^2 = Q^2 (1 - x) / x + m_p^2 = 4 + 0.8803
    assert r["reasons"][1] == ["W = 2.209 GeV < M + m_p = 4.038 GeV"]
    assert r["reasons"][2] == ["x = 2 not in (0, 1)", "PT = -1 GeV < 0"]
    assert r["reasons"][3] == ["z = 1.2 not in (0, 1)"]
    assert r["reasons"][4] == [
        "Q = 1 GeV outside the PDF grid of NNPDF31_lo_as_0118: [1.65, 100000] GeV"
    ]


def test_the_contract_example_of_a_y_refusal():
    # api.md: errors name each violated condition, e.g. "y = 1.73 > 1"
    x = 50.0**2 / (1.73 * 63.0**2)
    assert physics.evaluate(x, 0.5, 50.0, 1.0)["reasons"][0] == ["y = 1.73 > 1"]


def test_flags_mark_but_do_not_refuse():
    r = physics.evaluate(
        [0.2, 0.2, 0.6, 0.2],
        [0.5, 0.95, 0.5, 0.5],
        [20.0, 20.0, 10.0, 20.0],
        [6.0, 1.0, 1.0, 1.0],
        sqrt_s=[63.0, 63.0, 141.0, 63.0],
    )
    assert r["valid"].all()
    assert r["flags"][0] == [FLAG_TMD]  # PT = 6 > zQ/2 = 5
    assert r["flags"][1] == [FLAG_HIGH_Z]
    assert r["flags"][2] == [FLAG_ACCEPTANCE]  # y = 100 / (0.6 * 141^2) = 0.0084 < 0.01
    assert r["flags"][3] == []


def test_chunked_evaluation_with_interleaved_invalid_points(monkeypatch):
    monkeypatch.setattr(physics.points, "CHUNK", 64)
    rng = np.random.default_rng(11)
    n = 1000
    x = np.exp(rng.uniform(np.log(1e-3), 0, n))
    z = rng.uniform(-0.1, 1.0, n)
    Q = rng.uniform(1.0, 40.0, n)
    PT = rng.uniform(0, 3, n)
    batch = physics.evaluate(x, z, Q, PT)
    assert 0 < batch["valid"].sum() < n
    for i in range(0, n, 37):
        one = physics.evaluate(x[i], z[i], Q[i], PT[i])
        assert one["valid"][0] == batch["valid"][i]
        assert one["reasons"][0] == batch["reasons"][i]
        for name in OUTPUTS:
            np.testing.assert_array_equal(one[name][0], batch[name][i])


def test_per_point_beam_energy():
    x, z, Q, PT = [0.1, 0.1], [0.5, 0.5], [10.0, 10.0], [1.0, 1.0]
    both = physics.evaluate(x, z, Q, PT, sqrt_s=[40.0, 140.0])
    for i, s in enumerate((40.0, 140.0)):
        one = physics.evaluate(x[i], z[i], Q[i], PT[i], sqrt_s=s)
        assert both["total_U"][i] == one["total_U"][0]
    assert both["y"][0] == pytest.approx(100 / (0.1 * 1600))


@pytest.mark.parametrize(("z", "PT"), [(0.5, 1e160), (5e-324, 1.0)])
def test_points_that_overflow_double_precision_are_refused_with_a_reason(z, PT):
    r = physics.evaluate([0.2, 0.2], [z, 0.5], [20.0, 20.0], [PT, 1.0])
    assert r["valid"].tolist() == [False, True]
    assert "overflow" in r["reasons"][0][0]
    assert all(np.isnan(r[name][0]) for name in OUTPUTS)


@pytest.mark.parametrize(
    ("y", "valid"), [(1.0 - 1e-12, True), (1.0, True), (1.0 + 1e-9, False), (1.005, False)]
)
def test_y_rule_at_its_edge(y, valid):
    """0 < y <= 1 checked directly at the edge, not only through the binning tests."""
    from physics.kinematics import check_domain

    sqrt_s, Q = 63.0, 31.5  # at y = 1, x = Q²/s = 1/4 exactly
    x = np.array([Q**2 / (y * sqrt_s**2)])  # y = Q² / (x s)
    grid = physics.load_pdf()
    check = check_domain(x, np.array([0.5]), np.array([Q]), np.array([1.0]), sqrt_s, grid)
    assert check.y[0] == pytest.approx(y, rel=1e-12)
    assert bool(check.valid[0]) is valid
    if not valid:
        assert any(r.startswith("y = 1") and r.endswith("> 1") for r in check.reasons(0))
