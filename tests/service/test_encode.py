"""The fast response encoder equals the plain dict-and-dump construction."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from service.encode import encode_points


def plain(head, y, sigma, valid, flags, reasons):
    results = []
    for i in range(valid.size):
        if valid[i]:
            results.append(
                {
                    "valid": True,
                    "y": float(y[i]),
                    "sigma": {k: float(v[i]) for k, v in sigma.items()},
                    "errors": [],
                    "flags": [name for name, m in flags.items() if m[i]],
                }
            )
        else:
            results.append(
                {"valid": False, "y": None, "sigma": None, "errors": reasons(i), "flags": []}
            )
    return {**head, "results": results}


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(finite, finite, finite, st.booleans(), st.booleans(), st.booleans()), max_size=20
    ),
    st.sampled_from([["a"], ["total_U", "oct3s1_L"], ["p%s", 'q"r']]),
)
def test_same_json_as_the_plain_construction(rows, names):
    n = len(rows)
    y = np.array([r[0] for r in rows])
    valid = np.array([r[3] for r in rows], dtype=bool)
    sigma = {k: np.array([r[1 + j % 2] for r in rows]) for j, k in enumerate(names)}
    for v in sigma.values():
        v[~valid] = np.nan
    y = np.where(valid, y, np.nan)
    flags = {
        "f1": np.array([r[4] for r in rows], dtype=bool) & valid,
        "f2%": np.array([r[5] for r in rows], dtype=bool) & valid,
    }
    reasons = lambda i: [f"point {i} is bad", '100% "wrong"']  # noqa: E731
    head = {"units": "pb/GeV^4", "sqrt_s": 63.0}
    got = encode_points(head, y, sigma, valid, flags, reasons)
    assert json.loads(got) == plain(head, y, sigma, valid, flags, reasons)
    assert n == len(json.loads(got)["results"])
