"""The fitted part of the surrogate: ln x·g and ln x·q_eff as tensor-product B-splines.

Inputs are (x, Q in GeV); the spline lives in (u, v) = (logit x, ln Q), where
both log-densities are smooth and nearly linear towards x → 1
(x f ~ (1 − x)^β). Targets: ln(x g(x, Q)) and ln(x q_eff(x, Q)) with q_eff =
Σ e_q² f_q (``physics.points.number_densities``), both strictly positive
on the training domain.

``TensorSplineFeatures`` is a scikit-learn transformer: uniform B-splines of
degree 1 (piecewise bilinear) or 3 (bicubic) on ``n_cells`` cells per axis
over a fixed box, combined by a row-wise outer product into a sparse CSR
matrix with (degree + 1)² non-zeros per row (inputs outside the box are
clamped onto it). ``LogPDFRegressor`` is the estimator we fit and export: a
``Pipeline`` of these features and ``SparseRidge``, ridge regression with a
tiny penalty (which only pins down coefficients that no sample touches)
solved exactly by a sparse LU factorisation of the normal equations.
(``sklearn.linear_model.Ridge`` densifies XᵀX in its exact solver, 35 GB for
the 66 000 coefficients of a 1024 × 64 grid, and its iterative solvers need
minutes to reach 1e-10.)

``cell_table`` turns the fitted coefficients into one polynomial per cell in
local coordinates (t_u, t_v) ∈ [0, 1]², which is what the ONNX graph
evaluates: locate the cell, gather its coefficients, sum the monomials.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import splu
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

# Uniform B-spline pieces on one cell: B_a(t) = Σ_p BASIS[degree][a, p] t^p, a = 0..degree
# the basis functions that overlap the cell (left to right).
BASIS = {
    1: np.array([[1.0, -1.0], [0.0, 1.0]]),
    3: np.array(
        [[1.0, -3.0, 3.0, -1.0], [4.0, 0.0, -6.0, 3.0], [1.0, 3.0, 3.0, -3.0], [0.0, 0.0, 0.0, 1.0]]
    )
    / 6.0,
}


def to_uv(X) -> np.ndarray:
    """[N, 2] (x, Q) → [N, 2] (logit x, ln Q)."""
    X = np.asarray(X, dtype=float)
    x, Q = X[:, 0], X[:, 1]
    return np.column_stack([np.log(x) - np.log1p(-x), np.log(Q)])


def locate(uv: np.ndarray, box, n_cells) -> tuple[np.ndarray, np.ndarray]:
    """Cell indices [N, 2] and local coordinates [N, 2] in [0, 1] of clamped (u, v)."""
    lo = np.array([box[0][0], box[1][0]])
    width = np.array([box[0][1] - box[0][0], box[1][1] - box[1][0]])
    n = np.asarray(n_cells, dtype=float)
    s = np.clip((uv - lo) / width, 0.0, 1.0) * n
    cell = np.minimum(np.floor(s), n - 1).astype(np.intp)
    return cell, s - cell


def monomials(t: np.ndarray, degree: int) -> np.ndarray:
    """[N, (degree+1)²] t_u^a t_v^b, a outer, b inner."""
    p = np.arange(degree + 1)
    return ((t[:, 0, None] ** p)[:, :, None] * (t[:, 1, None] ** p)[:, None, :]).reshape(
        t.shape[0], -1
    )


class TensorSplineFeatures(TransformerMixin, BaseEstimator):
    """Tensor-product uniform B-spline features of (x, Q).

    Parameters: ``box`` = ((u_lo, u_hi), (v_lo, v_hi)) in (logit x, ln Q);
    ``n_cells`` = (cells in u, cells in v); ``degree`` 1 or 3. Output: CSR
    [N, (n_u + degree)(n_v + degree)].
    """

    def __init__(self, box=((-7.0, 7.0), (1.6, 4.7)), n_cells=(64, 16), degree=1):
        self.box = box
        self.n_cells = n_cells
        self.degree = degree

    def fit(self, X, y=None):
        if self.degree not in BASIS:
            raise ValueError(f"degree must be one of {sorted(BASIS)}, got {self.degree}")
        self.n_cells_ = tuple(int(n) for n in self.n_cells)
        self.box_ = tuple((float(a), float(b)) for a, b in self.box)
        self.n_basis_ = (self.n_cells_[0] + self.degree, self.n_cells_[1] + self.degree)
        self.n_features_in_ = 2
        self.n_features_out_ = self.n_basis_[0] * self.n_basis_[1]
        return self

    def transform(self, X):
        check_is_fitted(self, "n_basis_")
        k = self.degree + 1
        cell, t = locate(to_uv(X), self.box_, self.n_cells_)
        basis = BASIS[self.degree]
        powers = t[:, :, None] ** np.arange(k)  # [N, 2, k]
        bu = powers[:, 0] @ basis.T  # [N, k] values of the k active basis functions
        bv = powers[:, 1] @ basis.T
        cols_u = cell[:, 0:1] + np.arange(k)
        cols_v = cell[:, 1:2] + np.arange(k)
        n = cell.shape[0]
        cols = (cols_u[:, :, None] * self.n_basis_[1] + cols_v[:, None, :]).reshape(n, k * k)
        vals = (bu[:, :, None] * bv[:, None, :]).reshape(n, k * k)
        indptr = np.arange(0, k * k * n + 1, k * k)
        return sparse.csr_matrix((vals.ravel(), cols.ravel(), indptr), (n, self.n_features_out_))

    def get_feature_names_out(self, input_features=None):
        nb = self.n_basis_
        return np.array([f"B{i}_{j}" for i in range(nb[0]) for j in range(nb[1])], dtype=object)


class SparseRidge(RegressorMixin, BaseEstimator):
    """Ridge regression without intercept for sparse designs: (XᵀX + α I) c = Xᵀ y by sparse LU.

    Same model as ``Ridge(alpha, fit_intercept=False)``; ``coef_`` is [n_targets, n_features].
    """

    def __init__(self, alpha=1e-8):
        self.alpha = alpha

    def fit(self, X, y):
        X = sparse.csr_matrix(X)
        y = np.asarray(y, dtype=float)
        gram = (X.T @ X + self.alpha * sparse.identity(X.shape[1])).tocsc()
        coef = splu(gram).solve(np.asarray(X.T @ y).reshape(X.shape[1], -1))
        self.coef_ = coef.T if y.ndim == 2 else coef[:, 0]
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "coef_")
        return np.asarray(X @ self.coef_.T)


class LogPDFRegressor(RegressorMixin, BaseEstimator):
    """(x, Q) → [ln x·g, ln x·q_eff]: ``Pipeline(TensorSplineFeatures, SparseRidge)``."""

    def __init__(self, box=((-7.0, 7.0), (1.6, 4.7)), n_cells=(64, 16), degree=1, alpha=1e-8):
        self.box = box
        self.n_cells = n_cells
        self.degree = degree
        self.alpha = alpha

    def fit(self, X, y):
        # no intercept: the B-splines sum to one
        self.pipeline_ = Pipeline(
            [
                ("spline", TensorSplineFeatures(self.box, self.n_cells, self.degree)),
                ("ridge", SparseRidge(alpha=self.alpha)),
            ]
        )
        self.pipeline_.fit(np.asarray(X, dtype=float), np.asarray(y, dtype=float))
        self.n_features_in_ = 2
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "pipeline_")
        return self.pipeline_.predict(np.asarray(X, dtype=float))

    def cell_table(self) -> np.ndarray:
        """[n_u, n_v, 2, (degree+1)²]: per cell and output, Σ c[a, b] t_u^a t_v^b."""
        check_is_fitted(self, "pipeline_")
        spline = self.pipeline_.named_steps["spline"]
        coef = self.pipeline_.named_steps["ridge"].coef_  # [2, n_basis]
        nbu, nbv = spline.n_basis_
        k = self.degree + 1
        basis = BASIS[self.degree]
        c = coef.reshape(-1, nbu, nbv)
        # windows of k × k basis coefficients per cell: [out, nu, nv, k, k]
        win = np.lib.stride_tricks.sliding_window_view(c, (k, k), axis=(1, 2))
        poly = np.einsum("ap,oijab,bq->ijopq", basis, win, basis)
        nu, nv = spline.n_cells_
        return np.ascontiguousarray(poly.reshape(nu, nv, c.shape[0], k * k))

    @property
    def grid(self) -> dict:
        """Box, cell counts and degree of the spline (what the ONNX graph needs)."""
        spline = self.pipeline_.named_steps["spline"]
        return {"box": spline.box_, "n_cells": spline.n_cells_, "degree": spline.degree}


def evaluate_table(table: np.ndarray, grid: dict, X) -> np.ndarray:
    """Reference evaluation of ``cell_table`` at (x, Q): [N, 2]; mirrors the ONNX graph."""
    cell, t = locate(to_uv(X), grid["box"], grid["n_cells"])
    coef = table[cell[:, 0], cell[:, 1]]  # [N, 2, m]
    return np.einsum("nom,nm->no", coef, monomials(t, grid["degree"]))
