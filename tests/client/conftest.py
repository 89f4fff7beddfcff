"""Fixtures: one real jpsi-serve for the module (127.0.0.1, free port), and points that
mix physical, unphysical and non-finite rows."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from tests.service.server import start, stop


@pytest.fixture(scope="session")
def server_url():
    """A fresh jpsi-serve of this checkout, or the one at $JPSI_CLIENT_TEST_URL (to run the
    client's tests against another build, e.g. one with more wire formats)."""
    if os.environ.get("JPSI_CLIENT_TEST_URL"):
        yield os.environ["JPSI_CLIENT_TEST_URL"].rstrip("/")
        return
    proc, port = start(workers=1)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def make_points(n: int, seed: int = 3) -> pd.DataFrame:
    """``n`` points over and beyond the physical domain (about 10 % unphysical: y > 1,
    x out of (0, 1)), a NaN row and an infinite one."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "x": rng.uniform(0.02, 0.7, n),
            "z": rng.uniform(0.1, 0.95, n),
            "Q": rng.uniform(4.0, 40.0, n),
            "PT": rng.uniform(0.0, 4.0, n),
        }
    )
    df.loc[1, "x"] = 1.5
    df.loc[2, "Q"] = np.nan
    df.loc[4, "PT"] = np.inf
    return df


@pytest.fixture
def points() -> pd.DataFrame:
    return make_points(3001)
