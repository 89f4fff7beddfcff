"""Shapley explanations of log10 σ over the kinematic features (x, z, Q, P_T).

What is explained. For a target output (any of ``physics.OUTPUTS``) and a
beam energy √s held fixed at the request's value, the model is
f(x, z, Q, P_T) = log10 σ_target in log10(pb/GeV⁴), either the exact engine
(``exact_model``) or the ONNX surrogate in onnxruntime
(``onnx_surrogate_model``). √s itself is not explained.

Interventional Shapley values, computed exactly. With n = 4 features there
are 2⁴ coalitions S; for each, the value of the game is the mean of f over
a fixed background sample B of the training domain with the features in S
taken from the point and the others from the background row,

    v(S) = mean_b f(x_S, b_¬S),    φ_i = Σ_{S ∌ i} |S|! (n − |S| − 1)! / n! [v(S ∪ i) − v(S)],

base_value = v(∅) and prediction = v(N) = f(point). Every hybrid of every
coalition for every point of a request is evaluated in one vectorised call
of f.

Hybrids outside the physical domain. A hybrid (x_S, b_¬S) can be
unphysical at the request's √s (y > 1 or W below threshold: only x and Q
enter those rules), where σ, and so log10 σ, does not exist. We do not
continue the formula there (it would explain a function that is not the
cross section, and the PDFs clip to zero near x → 1, so log10 σ would still
be undefined in places). Instead the background distribution is truncated
to the physical domain, coalition by coalition:

    v(S) = E_b[ f(x_S, b_¬S) | (x_S, b_¬S) physical at √s ],

i.e. the mean over the valid hybrids only (models return NaN elsewhere and
``shapley_values`` takes the mean over finite values). This is still a
cooperative game with one number per coalition, so its Shapley values are
the unique efficient, symmetric and linear attribution of it, and
efficiency, Σ φ_i = v(N) − v(∅), gives exact additivity. v(∅) is the mean
of f over the background rows that are physical at √s; it does not depend
on the point, so a request has one base_value. When every hybrid is
physical (most of the training domain at large √s) this is the textbook
interventional value (what ``shap.explainers.Exact`` with an ``Independent``
masker computes; the tests check it). The price: because the truncation
depends on (x, Q), a feature that f ignores can still get a non-zero φ
through the domain boundary (the "dummy" axiom holds only where all hybrids
are physical). If no background row makes some coalition physical, v(S) is
undefined and the point is reported as not explainable (``errors``), never
filled with a made-up number. The surrogate is masked with the same physical
domain (it would extrapolate silently), so exact and surrogate explanations
are the same game for two models and can be compared.

Errors. Malformed input raises ``ValueError`` (unknown target or model,
wrong shapes, non-finite numbers, too many points); a well-formed point
that cannot be explained is answered with ``valid: False`` and its errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import physics
from physics.constants import SQRT_S_DEFAULT
from physics.kinematics import check_domain
from runtime.artifacts import read_verified_manifest
from runtime.features import KINEMATIC_FEATURES

FEATURES = KINEMATIC_FEATURES
"""Explained features, in column order of points and background (Q, P_T in GeV)."""

MODELS = ("exact", "surrogate")
MAX_POINTS = 100
"""Points per request (api.md)."""

SPACE = "log10(sigma)"

ModelFn = Callable[[np.ndarray], np.ndarray]

CHUNK_ROWS = 1 << 15
"""Rows per model call. A 100-point explanation is 358 k rows (100 x 14 coalitions x 256
background rows): in one call they take ~200 MB at once, which onnxruntime's arena then
keeps for good, per concurrent request."""


def coalitions(n: int = len(FEATURES)) -> np.ndarray:
    """All 2ⁿ coalitions as bool [2ⁿ, n]; row k holds the bits of k (row 0 = ∅, last = all)."""
    k = np.arange(2**n)[:, None]
    return ((k >> np.arange(n)) & 1).astype(bool)


def shapley_kernel(n: int = len(FEATURES)) -> np.ndarray:
    """Matrix W [2ⁿ, n] with φ = v @ W: W[S, i] = +w(|S|−1) if i ∈ S, −w(|S|) if i ∉ S.

    w(s) = s! (n − s − 1)! / n!, the weight of the marginal contribution v(S ∪ i) − v(S).
    """
    masks = coalitions(n)
    size = masks.sum(axis=1)
    w = np.array(
        [math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)]
    )
    W = np.zeros(masks.shape)
    for i in range(n):
        has = masks[:, i]
        W[has, i] = w[size[has] - 1]
        W[~has, i] = -w[size[~has]]
    return W


def shapley_values(f: ModelFn, X, background) -> tuple[float, np.ndarray, np.ndarray]:
    """Exact interventional Shapley values of a vectorised model over a background sample.

    ``f`` maps rows [N, d] to values [N], NaN (or ±inf) where undefined; such
    hybrids are left out of each coalition's mean (see the module docstring).
    ``X`` is [n, d], ``background`` [m, d]. Returns (base_value, phi [n, d],
    prediction [n]) with base_value + phi.sum(1) == prediction to rounding.
    Rows of phi are NaN where the prediction or some coalition value is
    undefined; base_value is NaN if no background row is defined.
    """
    X = np.atleast_2d(np.asarray(X, dtype=float))
    B = np.atleast_2d(np.asarray(background, dtype=float))
    n, d = X.shape
    if B.ndim != 2 or B.shape[1] != d or B.shape[0] == 0:
        raise ValueError(f"background must be [m > 0, {d}], got {B.shape}")
    masks = coalitions(d)
    inner = masks[1:-1]  # ∅ and the full coalition need no hybrids
    m = B.shape[0]
    hybrids = np.where(inner[None, :, None, :], X[:, None, None, :], B[None, None, :, :])
    rows = np.concatenate([B, X, hybrids.reshape(-1, d)])
    values = np.concatenate(
        [
            np.asarray(f(rows[i : i + CHUNK_ROWS]), dtype=float).reshape(-1)
            for i in range(0, rows.shape[0], CHUNK_ROWS)
        ]
    )
    if values.size != rows.shape[0]:
        raise ValueError(f"model returned {values.size} values for {rows.shape[0]} rows")
    values = np.where(np.isfinite(values), values, np.nan)
    v_empty = _mean_finite(values[:m])
    prediction = values[m : m + n]
    v_inner = _mean_finite(values[m + n :].reshape(n, len(inner), m), axis=2)
    v = np.column_stack([np.full(n, v_empty), v_inner, prediction])  # [n, 2^d]
    defined = np.isfinite(v).all(axis=1)
    phi = np.full((n, d), np.nan)
    phi[defined] = v[defined] @ shapley_kernel(d)
    return float(v_empty), phi, prediction


def _mean_finite(a: np.ndarray, axis=None):
    ok = np.isfinite(a)
    count = ok.sum(axis=axis)
    total = np.where(ok, a, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def undefined_coalitions(
    f_valid: Callable[[np.ndarray], np.ndarray], point: np.ndarray, background: np.ndarray
) -> list[tuple[str, ...]]:
    """Coalitions (as feature names) for which no background row gives a defined hybrid."""
    masks = coalitions(len(FEATURES))[1:-1]
    hybrids = np.where(masks[:, None, :], point[None, None, :], background[None, :, :])
    valid = np.asarray(f_valid(hybrids.reshape(-1, len(FEATURES)))).reshape(len(masks), -1)
    ok = [bool(row.any()) for row in valid]
    return [tuple(np.array(FEATURES)[mk]) for mk, good in zip(masks, ok, strict=True) if not good]


def _target_index(target: str) -> int:
    if target not in physics.OUTPUTS:
        raise ValueError(f"unknown target {target!r}; expected one of {list(physics.OUTPUTS)}")
    return physics.OUTPUTS.index(target)


def check_sqrt_s(sqrt_s) -> float:
    """√s as a float in GeV; ``ValueError`` unless finite and > 0."""
    try:
        value = float(sqrt_s)
    except (TypeError, ValueError) as err:
        raise ValueError(f"sqrt_s must be a number in GeV, got {sqrt_s!r}") from err
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"sqrt_s must be finite and > 0 GeV, got {sqrt_s!r}")
    return value


def physical_mask(
    rows: np.ndarray, sqrt_s: float, pdf_set: str = physics.DEFAULT_PDF_SET
) -> np.ndarray:
    """Rows [N, 4] (x, z, Q, P_T) inside the physical domain at √s (docs/physics.md)."""
    pdf = physics.load_pdf(pdf_set)
    return check_domain(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3], sqrt_s, pdf).valid


def exact_model(
    target: str, sqrt_s: float = SQRT_S_DEFAULT, pdf_set: str = physics.DEFAULT_PDF_SET
) -> ModelFn:
    """f(rows [N, 4]) = log10 σ_target from ``physics.evaluate`` at √s with PDF set
    ``pdf_set``; NaN where unphysical."""
    _target_index(target)
    sqrt_s = check_sqrt_s(sqrt_s)
    theory = physics.TheoryConfig(pdf_set=pdf_set)

    def f(rows: np.ndarray) -> np.ndarray:
        ev = physics.evaluate(
            rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3], sqrt_s=sqrt_s, theory=theory
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log10(ev[target])

    return f


def onnx_surrogate_model(
    session, target: str, sqrt_s: float = SQRT_S_DEFAULT, pdf_set: str = physics.DEFAULT_PDF_SET
) -> ModelFn:
    """f(rows [N, 4]) = log10 σ_target from the surrogate's ONNX session, NaN where unphysical.

    The session takes "features" float64 [N, 5] = (√s, x, z, Q, P_T) and
    returns "sigma" [N, 10] in ``physics.OUTPUTS`` order (pb/GeV⁴). Rows
    outside the physical domain (with ``pdf_set``, the surrogate's own set) are masked like
    the exact model's.
    """
    col = _target_index(target)
    sqrt_s = check_sqrt_s(sqrt_s)
    input_name = session.get_inputs()[0].name
    output_names = [o.name for o in session.get_outputs()]
    out = output_names.index("sigma") if "sigma" in output_names else 0

    def f(rows: np.ndarray) -> np.ndarray:
        # Only physical rows reach the graph: its cell lookup turns x >= 1, x <= 0 or Q <= 0
        # into an out-of-range Gather index (a failed run, not a NaN).
        physical = physical_mask(rows, sqrt_s, pdf_set)
        value = np.full(rows.shape[0], np.nan)
        if physical.any():
            kept = rows[physical]
            feats = np.column_stack([np.full(kept.shape[0], sqrt_s), kept]).astype(np.float64)
            sigma = np.asarray(session.run(None, {input_name: feats})[out], dtype=float)[:, col]
            with np.errstate(divide="ignore", invalid="ignore"):
                value[physical] = np.log10(sigma)
        return value

    return f


def load_background(directory, manifest: dict | None = None) -> tuple[np.ndarray, dict]:
    """Background [m, 4] (x, z, Q, P_T) and manifest from ``artifacts/explain``, sha256-checked
    here unless ``manifest`` is given, already verified (``runtime.artifacts.load_registry``
    verifies every set once at start-up).

    Raises ``ValueError`` if a checksum or the column layout does not match.
    """
    directory = Path(directory)
    if manifest is None:
        manifest = read_verified_manifest(directory)
    if tuple(manifest["columns"]) != FEATURES:
        raise ValueError(f"background columns {manifest['columns']} != {list(FEATURES)}")
    background = np.load(directory / "background.npy", allow_pickle=False)
    if background.dtype != np.float64 or background.ndim != 2 or background.shape[1] != 4:
        raise ValueError(
            f"background.npy must be float64 [m, 4], got {background.dtype} {background.shape}"
        )
    return background, manifest


def as_points(points, max_points: int | None = MAX_POINTS) -> np.ndarray:
    """Validate points: array-like [n, 4] (x, z, Q, P_T), 1 ≤ n ≤ ``max_points``, all finite."""
    try:
        X = np.asarray(points, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"points must be numbers [n, 4] (x, z, Q, PT): {err}") from err
    if X.ndim != 2 or X.shape[1] != 4:
        raise ValueError(f"points must have shape [n, 4] (x, z, Q, PT), got {X.shape}")
    if X.shape[0] == 0 or (max_points is not None and X.shape[0] > max_points):
        limit = "" if max_points is None else f" and {max_points}"
        raise ValueError(f"between 1{limit} points per request, got {X.shape[0]}")
    bad = np.argwhere(~np.isfinite(X))
    if bad.size:
        i, j = bad[0]
        raise ValueError(f"points[{i}].{FEATURES[j]} is not finite: {X[i, j]}")
    return X


class Explainer:
    """Explanations for the /v1/explain route: background loaded once, models built per request.

    ``session`` is the surrogate's ``onnxruntime.InferenceSession`` (None: only
    the exact model is available). ``pdf_set`` is the set of the exact model (the
    service's default set); ``surrogate_pdf_set`` the one the surrogate was trained
    on, which also decides which of its inputs are physical.
    """

    def __init__(
        self,
        background: np.ndarray,
        manifest: dict | None = None,
        session=None,
        pdf_set: str = physics.DEFAULT_PDF_SET,
        surrogate_pdf_set: str = physics.DEFAULT_PDF_SET,
    ):
        self.background = np.asarray(background, dtype=float)
        self.manifest = manifest or {}
        self.session = session
        self.pdf_sets = {"exact": pdf_set, "surrogate": surrogate_pdf_set}

    @classmethod
    def from_artifacts(
        cls, directory, session=None, manifest: dict | None = None, **pdf_sets: str
    ) -> Explainer:
        """The explainer of a set (``manifest``: already verified, see ``load_background``)."""
        background, manifest = load_background(directory, manifest)
        return cls(background, manifest, session, **pdf_sets)

    def model(self, model: str, target: str, sqrt_s: float) -> ModelFn:
        if model == "exact":
            return exact_model(target, sqrt_s, self.pdf_sets["exact"])
        if model == "surrogate":
            if self.session is None:
                raise ValueError("model 'surrogate' is not loaded; use model 'exact'")
            return onnx_surrogate_model(self.session, target, sqrt_s, self.pdf_sets["surrogate"])
        raise ValueError(f"unknown model {model!r}; expected one of {list(MODELS)}")

    def explain(
        self, points, target: str = "total_U", model: str = "exact", sqrt_s=SQRT_S_DEFAULT
    ) -> dict:
        """The /v1/explain response body (docs/api.md) for points [n, 4] (x, z, Q, P_T).

        ``base_value`` is None (and every point invalid) if no background row
        is physical at √s. Raises ``ValueError`` on malformed input.
        """
        X = as_points(points)
        sqrt_s = check_sqrt_s(sqrt_s)
        f = self.model(model, target, sqrt_s)
        base, phi, prediction = shapley_values(f, X, self.background)
        pdf_set = self.pdf_sets[model]
        check = check_domain(X[:, 0], X[:, 1], X[:, 2], X[:, 3], sqrt_s, physics.load_pdf(pdf_set))
        results: list[dict[str, Any]] = []
        for i in range(X.shape[0]):
            errors = self._errors(
                i, X[i], check, base, prediction[i], phi[i], target, sqrt_s, pdf_set
            )
            if errors:
                results.append({"valid": False, "prediction": None, "shap": None, "errors": errors})
            else:
                shap = {name: float(v) for name, v in zip(FEATURES, phi[i], strict=True)}
                results.append(
                    {"valid": True, "prediction": float(prediction[i]), "shap": shap, "errors": []}
                )
        return {
            "target": target,
            "model": model,
            "space": SPACE,
            "sqrt_s": sqrt_s,
            "base_value": base if math.isfinite(base) else None,
            "results": results,
        }

    def _errors(self, i, point, check, base, prediction, phi, target, sqrt_s, pdf_set) -> list[str]:
        if not check.valid[i]:
            return check.reasons(i)
        if not math.isfinite(base):
            return [
                f"no background row is physical at sqrt_s = {sqrt_s:.6g} GeV: base value undefined"
            ]
        if not np.isfinite(prediction):
            return [f"{target} is not positive at this point: log10(sigma) undefined"]
        if np.isfinite(phi).all():
            return []
        missing = undefined_coalitions(
            lambda r: physical_mask(r, sqrt_s, pdf_set), point, self.background
        )
        names = "; ".join("{" + ", ".join(c) + "}" for c in missing) or "some coalition"
        return [
            f"no background row gives a physical point with the point's {names} at "
            f"sqrt_s = {sqrt_s:.6g} GeV: Shapley values undefined "
            "(point far from the training domain)"
        ]


__all__ = [
    "FEATURES",
    "MAX_POINTS",
    "MODELS",
    "Explainer",
    "as_points",
    "coalitions",
    "exact_model",
    "load_background",
    "onnx_surrogate_model",
    "physical_mask",
    "shapley_kernel",
    "shapley_values",
]
