"""``physics.kinematics.check_point`` is ``check_domain`` for one point, bit for bit: the
verdict, y and the flags, over arbitrary doubles, near the domain's edges and inside it."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import physics
from physics.kinematics import FLAGS, check_domain, check_point
from tests.physics.strategies import physical_points

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
near = st.one_of(
    finite,
    st.sampled_from([0.0, 1.0, 0.5, 0.9, 0.95, 0.01, 1e-9, 5e-324, 1e300, -0.0, 1 - 1e-16]),
    st.floats(-0.1, 1.1),
)


def same_verdict(x, z, Q, PT, sqrt_s) -> None:
    grid = physics.load_pdf()
    check = check_domain(np.array([x]), np.array([z]), np.array([Q]), np.array([PT]), sqrt_s, grid)
    try:
        valid, y, flags = check_point(x, z, Q, PT, sqrt_s, grid)
    except ZeroDivisionError:
        return  # x S underflows to 0: the fast path declines, the route answers
    assert valid == bool(check.valid[0])
    if valid:
        assert y == check.y[0]
        assert flags == tuple(bool(check.flags[f][0]) for f in FLAGS)


@settings(max_examples=400, deadline=None)
@given(
    x=near, z=near, Q=st.one_of(finite, st.floats(0.5, 200.0)),
    PT=st.one_of(finite, st.floats(-1.0, 20.0)),
    sqrt_s=st.one_of(st.floats(1.0, 200.0), st.sampled_from([28.0, 63.0, 141.0])),
)  # fmt: skip
def test_check_point_is_check_domain_bit_for_bit(x, z, Q, PT, sqrt_s):
    same_verdict(x, z, Q, PT, sqrt_s)


@settings(max_examples=300, deadline=None)
@given(physical_points())
def test_check_point_on_physical_points(point):
    x, z, Q, PT, sqrt_s = point
    same_verdict(x, z, Q, PT, sqrt_s)
