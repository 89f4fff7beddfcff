"""The spline regressor: sklearn contract, basis, cell tables and the ONNX converter."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import BSpline
from sklearn.base import clone

from physics import TheoryConfig
from runtime.onnx import predict, session
from training.onnx_graph import convert_spline, surrogate_model
from training.pipeline import closed_form
from training.sampling import DOMAIN, footprint_box, sample_domain, sample_footprint
from training.splines import LogPDFRegressor, TensorSplineFeatures, evaluate_table, to_uv
from training.targets import log_xpdf

BOX = footprint_box(DOMAIN, 0.3, 0.05, 4.92)


@pytest.fixture(scope="module")
def data():
    X = sample_footprint(13, seed=3, box=BOX, margin_u=0.3)
    return X, log_xpdf(X)


@pytest.mark.parametrize("degree", [1, 3])
def test_features_match_scipy_bsplines(degree):
    X = sample_footprint(8, seed=4, box=BOX, margin_u=0.3)
    f = TensorSplineFeatures(BOX, (16, 8), degree).fit(X)
    dense = f.transform(X).toarray()
    uv = to_uv(X)
    mats = []
    for axis, n in enumerate((16, 8)):
        lo, hi = BOX[axis]
        h = (hi - lo) / n
        knots = lo + h * np.arange(-degree, n + degree + 1)
        mats.append(BSpline.design_matrix(uv[:, axis], knots, degree).toarray())
    expected = np.einsum("ni,nj->nij", *mats).reshape(len(X), -1)
    np.testing.assert_allclose(dense, expected, atol=1e-14)


def test_sklearn_contract(data):
    X, y = data
    model = LogPDFRegressor(BOX, (32, 8), 1)
    assert model.fit(X, y) is model
    assert clone(model).get_params() == model.get_params()
    assert not hasattr(clone(model), "pipeline_")
    assert model.predict(X).shape == (len(X), 2)


@pytest.mark.parametrize("degree", [1, 3])
def test_cell_table_and_onnx_reproduce_predict(data, degree):
    X, y = data
    model = LogPDFRegressor(BOX, (32, 8), degree).fit(X, y)
    pts = sample_domain(11, seed=5)[:, [1, 3]]
    np.testing.assert_allclose(evaluate_table(model.cell_table(), model.grid, pts),
                               model.predict(pts), atol=1e-12)  # fmt: skip
    out = session(convert_spline(model).SerializeToString()).run(None, {"xq": pts})[0]
    assert np.max(np.abs(out - model.predict(pts))) <= 1e-9


def test_surrogate_graph_is_the_closed_form(data):
    """The appended closed form equals physics.channels fed by the spline, to rounding."""
    X, y = data
    model = LogPDFRegressor(BOX, (64, 16), 1).fit(X, y)
    sess = session(surrogate_model(convert_spline(model)).SerializeToString())
    pts = sample_domain(11, seed=6)
    pts[:5, 4] = 0.0  # P_T = 0: exact zeros (sing3s1_L), never NaN
    sigma = predict(sess, pts)
    expected = closed_form(pts, model.predict(pts[:, [1, 3]]), TheoryConfig())
    np.testing.assert_allclose(sigma, expected, rtol=1e-11, atol=0)
    assert np.all(np.isfinite(sigma))


def test_finite_outside_the_domain(data):
    X, y = data
    model = LogPDFRegressor(BOX, (32, 8), 1).fit(X, y)
    sess = session(surrogate_model(convert_spline(model)).SerializeToString())
    odd = np.array([
        [300.0, 1e-7, 0.99, 1.0, 50.0],   # far outside the spline box and the domain
        [10.0, 0.999999, 0.01, 900.0, 0.0],
        [63.0, 0.5, 0.5, 20.0, 1e-12],
    ])  # fmt: skip
    assert np.all(np.isfinite(predict(sess, odd)))
