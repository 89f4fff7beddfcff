"""The committed artifacts in ``artifacts/surrogate`` load, verify and reproduce the exact engine.

Fresh points (plain pseudo-random, not the training Sobol' sequence) over the
training domain; the accuracy must match what the manifest and model card state.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from physics import OUTPUTS
from runtime.domain import DOMAIN
from runtime.onnx import predict, session
from training.artifacts import MODEL_FILE, verify
from training.metrics import TARGETS, relative_error
from training.targets import exact_sigma

COMMITTED = Path(__file__).resolve().parents[2] / "artifacts" / "surrogate"


def fresh_points(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lx_lo, lx_hi = np.log(DOMAIN.x_bounds(DOMAIN.Q[0])[0]), np.log(DOMAIN.x_bounds(DOMAIN.Q[1])[1])
    Q = np.exp(rng.uniform(*np.log(DOMAIN.Q), n))
    z = rng.uniform(*DOMAIN.z, n)
    pts = np.column_stack([
        rng.uniform(*DOMAIN.sqrt_s, n), np.exp(rng.uniform(lx_lo, lx_hi, n)), z, Q,
        rng.uniform(0, 1, n) * DOMAIN.pt_max(z, Q),
    ])  # fmt: skip
    return pts[DOMAIN.contains(pts)]


@pytest.fixture(scope="module")
def committed():
    if not (COMMITTED / "manifest.json").is_file():
        pytest.fail(f"no committed surrogate artifacts in {COMMITTED}: run `make train`")
    return verify(COMMITTED)


def test_committed_manifest_is_a_full_run(committed):
    assert committed["quick"] is False
    assert min(m["n_test"] for m in committed["metrics"].values()) >= 100_000


def test_committed_model_reproduces_exact_engine(committed):
    pts = fresh_points(40_000, seed=12345)
    rel = relative_error(predict(session(COMMITTED / MODEL_FILE), pts), exact_sigma(pts))
    for k, name in enumerate(OUTPUTS):
        stated = committed["metrics"][name]
        median, p99 = np.median(rel[:, k]), np.percentile(rel[:, k], 99)
        assert median <= TARGETS["median"] and p99 <= TARGETS["p99"], name
        # same distribution family as the test set: within a factor 2 of the stated figures
        assert median <= 2 * stated["median"] and p99 <= 2 * stated["p99"], name
