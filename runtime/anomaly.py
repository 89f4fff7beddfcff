"""Anomaly scores for submitted points (x, z, Q, P_T) and, optionally, client-supplied σ values.

One score in [0, 1] per point (higher = more anomalous), the maximum of
calibrated components, each mapped so that its own threshold sits at 0.5:

- ``unphysical`` (1.0): the point breaks a rule of the physical domain
  (``physics.kinematics.check_domain``); the reasons are the physics reasons.
  Nothing else is computed for such a point.
- ``outside_training_domain`` (0.75): physical, but outside the training
  domain box (bounds from the manifest: √s, Q, z, P_T ≤ min(zQ/2, P_T,max),
  y acceptance, W threshold).
- ``isolation``: an IsolationForest fitted on the training domain
  (``training/anomaly.py``), run in onnxruntime on the features
  (ln x, z, ln Q, P_T/(zQ), ln √s, y). Its raw score a = 2^(−E[h]/c(ψ))
  ∈ (0, 1) (sklearn's ``-score_samples``) is reported as ``isolation_raw``;
  the component is logistic((a − t_iso)/w), t_iso the calibrated quantile.
- ``theory``: for each supplied channel, ρ = log10(σ_supplied / σ_exact)
  against the exact engine at the request's √s; ``theory_residual`` is
  max |ρ| in dex. Clean data are exact values times independent factors
  uniform in [0.8, 1.2] per channel (the stated noise model, stored in the
  manifest), so ρ lies in the band [log10 0.8, log10 1.2]. The normalised
  deviation d = ρ / log10 1.2 (ρ > 0) or ρ / log10 0.8 (ρ < 0) is ≤ 1 on
  clean data; the component is d_max / (1 + d_max). Any factor beyond
  ×1.5 or ÷1.5 on one channel therefore lands outside the band whatever the
  noise. Non-positive or non-finite supplied values score 1.0.

``is_anomaly`` is score > threshold (0.5 unless the manifest says
otherwise); the calibration (``training/anomaly.py``) checks that clean
data are flagged at most 1 % of the time. ``reasons`` says which components
fired, with numbers.

Malformed input (shapes, non-finite coordinates or √s, unknown channel
names, non-numeric σ values, a σ list of the wrong length) raises
``ValueError`` with a message naming the offending index and field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

import physics
from physics.constants import SQRT_S_DEFAULT
from physics.kinematics import check_domain, inelasticity
from runtime.artifacts import read_verified_manifest
from runtime.domain import TrainingDomain
from runtime.onnx import session as onnx_session
from runtime.shapley import as_points, check_sqrt_s

ISOLATION_FEATURES = ("ln_x", "z", "ln_Q", "PT_over_zQ", "ln_sqrt_s", "y")
ISOLATION_UNITS = {
    "ln_x": "ln of Bjorken x",
    "z": "",
    "ln_Q": "ln(Q / GeV)",
    "PT_over_zQ": "P_T / (z Q), dimensionless",
    "ln_sqrt_s": "ln(sqrt_s / GeV)",
    "y": "inelasticity Q^2 / (x s)",
}
NOISE_BAND = (0.8, 1.2)
"""Clean data: σ_exact × U(0.8, 1.2), independently per channel (the calibration's noise model)."""

SCORE_UNPHYSICAL = 1.0
SCORE_OUTSIDE_DOMAIN = 0.75
SCORE_BAD_VALUE = 1.0
THRESHOLD = 0.5
ISOLATION_WIDTH = 0.02
"""Width w of the logistic map of the isolation score around its threshold."""


def isolation_features(points: np.ndarray, sqrt_s) -> np.ndarray:
    """Features [n, 6] (``ISOLATION_FEATURES``) as float32, for physical points (x, z, Q, P_T)."""
    x, z, Q, PT = np.asarray(points, dtype=float).T
    rs = np.broadcast_to(np.asarray(sqrt_s, dtype=float), x.shape)
    with np.errstate(all="ignore"):
        feats = np.column_stack(
            [np.log(x), z, np.log(Q), PT / (z * Q), np.log(rs), inelasticity(x, Q, rs)]
        )
    return np.nan_to_num(feats, nan=0.0, posinf=1e30, neginf=-1e30).astype(np.float32)


def _check_sigma(sigma, n: int) -> list[dict[str, float] | None]:
    if sigma is None:
        return [None] * n
    if isinstance(sigma, (str, bytes)) or not isinstance(sigma, Sequence):
        raise ValueError("sigma must be a list with one dict (or None) per point")
    if len(sigma) != n:
        raise ValueError(f"sigma has {len(sigma)} entries for {n} points")
    out: list[dict[str, float] | None] = []
    for i, entry in enumerate(sigma):
        if entry is None:
            out.append(None)
            continue
        if not isinstance(entry, Mapping):
            raise ValueError(
                f"sigma[{i}] must be a dict of channel -> value, got {type(entry).__name__}"
            )
        clean: dict[str, float] = {}
        for name, value in entry.items():
            if name not in physics.OUTPUTS:
                raise ValueError(
                    f"sigma[{i}]: unknown channel {name!r}; expected any of {list(physics.OUTPUTS)}"
                )
            if isinstance(value, bool) or not isinstance(
                value, (int, float, np.floating, np.integer)
            ):
                raise ValueError(f"sigma[{i}].{name} must be a number, got {value!r}")
            clean[name] = float(value)
        out.append(clean or None)
    return out


class AnomalyScorer:
    """Scores points against the physical domain, the training domain and the exact engine.

    Build with ``from_artifacts(dir)`` (verifies sha256 of every file in the
    manifest and loads ``isolation.onnx`` in onnxruntime).
    """

    def __init__(self, session, manifest: dict, pdf_set: str = physics.DEFAULT_PDF_SET):
        self.session = session
        self.manifest = manifest
        self.pdf_set = pdf_set
        self.domain = TrainingDomain.from_manifest(manifest["training_domain"])
        th = manifest["thresholds"]
        self.threshold = float(th["score"])
        self.isolation_threshold = float(th["isolation"])
        self.isolation_width = float(th.get("isolation_width", ISOLATION_WIDTH))
        self.offset = float(manifest["calibration"]["isolation_offset"])
        lo, hi = manifest["calibration"]["noise_band"]
        self.band = (math.log10(lo), math.log10(hi))
        self.band_ratio = (float(lo), float(hi))
        self._input = session.get_inputs()[0].name

    @classmethod
    def from_artifacts(
        cls, directory, pdf_set: str = physics.DEFAULT_PDF_SET, manifest: dict | None = None
    ) -> AnomalyScorer:
        """The scorer of a set, sha256-checked here unless ``manifest`` is given, already
        verified (``runtime.artifacts.load_registry`` verifies every set once at start-up);
        ``pdf_set`` is that of the exact engine and the domain rules (the service's default)."""
        directory = Path(directory)
        if manifest is None:
            manifest = read_verified_manifest(directory)
        return cls(onnx_session(directory / "isolation.onnx"), manifest, pdf_set)

    def isolation_raw(self, points: np.ndarray, sqrt_s) -> np.ndarray:
        """IsolationForest anomaly score a ∈ (0, 1) (= −score_samples) via onnxruntime."""
        feats = isolation_features(points, sqrt_s)
        decision = self.session.run(["scores"], {self._input: feats})[0].reshape(-1)
        return -(decision.astype(float) + self.offset)

    def score(self, points, sqrt_s: float = SQRT_S_DEFAULT, sigma=None) -> list[dict]:
        """One dict per point: {"score", "is_anomaly", "components", "reasons"}.

        ``points`` [n, 4] (x, z, Q, P_T in GeV); ``sigma`` None or a list of n
        entries, each None or {channel: value in pb/GeV⁴} with channel names
        from ``physics.OUTPUTS``. Raises ``ValueError`` on malformed input.
        """
        X = as_points(points, max_points=None)
        sqrt_s = check_sqrt_s(sqrt_s)
        supplied = _check_sigma(sigma, X.shape[0])
        pdf = physics.load_pdf(self.pdf_set)
        check = check_domain(X[:, 0], X[:, 1], X[:, 2], X[:, 3], sqrt_s, pdf)
        valid = check.valid
        ok = np.flatnonzero(valid)
        iso = np.full(X.shape[0], np.nan)
        exact: dict[str, np.ndarray] = {}
        if ok.size:
            iso[ok] = self.isolation_raw(X[ok], sqrt_s)
            theory = physics.TheoryConfig(pdf_set=self.pdf_set)
            ev = physics.evaluate(X[:, 0], X[:, 1], X[:, 2], X[:, 3], sqrt_s=sqrt_s, theory=theory)
            exact = {name: np.asarray(ev[name]) for name in physics.OUTPUTS}
        outside = self.domain.violations(X, sqrt_s)
        results = []
        for i in range(X.shape[0]):
            if not valid[i]:
                reasons = [f"unphysical: {r}" for r in check.reasons(i)]
                if supplied[i] is not None:
                    reasons.append("sigma not checked: no exact value outside the physical domain")
                comps = {"unphysical": SCORE_UNPHYSICAL}
                results.append(self._result(comps, reasons))
                continue
            comps, reasons = {"unphysical": 0.0}, []
            comps["outside_training_domain"] = SCORE_OUTSIDE_DOMAIN if outside[i] else 0.0
            reasons += [f"outside training domain: {r}" for r in outside[i]]
            comps["isolation_raw"] = float(iso[i])
            comps["isolation"] = self._isolation_component(iso[i])
            if comps["isolation"] > self.threshold:
                reasons.append(
                    f"isolation: score {iso[i]:.3f} > {self.isolation_threshold:.3f} "
                    "(sparse region of the training domain)"
                )
            if (values := supplied[i]) is not None:
                th, residual, why = self._theory(values, {k: v[i] for k, v in exact.items()})
                comps["theory"], comps["theory_residual"] = th, residual
                reasons += why
            results.append(self._result(comps, reasons))
        return results

    def _result(self, comps: dict, reasons: list[str]) -> dict:
        keys = ("unphysical", "outside_training_domain", "isolation", "theory")
        score = float(min(max(comps.get(k, 0.0) for k in keys), 1.0))
        return {
            "score": score,
            "is_anomaly": bool(score > self.threshold),
            "components": comps,
            "reasons": reasons,
        }

    def _isolation_component(self, a: float) -> float:
        t = (a - self.isolation_threshold) / self.isolation_width
        return float(1.0 / (1.0 + math.exp(-min(max(t, -700.0), 700.0))))

    def _theory(self, supplied: dict[str, float], exact: dict[str, float]):
        """(component, max |log10 ratio| over positive finite values, reasons) for one point."""
        lo, hi = self.band
        worst_d, worst_r, reasons = 0.0, 0.0, []
        for name, value in supplied.items():
            ref = float(exact[name])
            if not math.isfinite(value) or value <= 0.0:
                if value == 0.0 and ref == 0.0:
                    continue  # e.g. sing3s1_L at P_T = 0: zero is the right answer
                reasons.append(f"theory: {name} = {value!r} is not a positive finite number")
                worst_d = math.inf
                continue
            if ref <= 0.0:
                reasons.append(f"theory: {name} = {value:.4g} but the exact value is 0")
                worst_d = math.inf
                continue
            rho = math.log10(value / ref)
            d = rho / hi if rho > 0.0 else rho / lo
            worst_r = max(worst_r, abs(rho))
            if d > 1.0:
                reasons.append(
                    f"theory: {name} supplied/exact = {value / ref:.4g} "
                    f"(log10 residual {rho:+.3f}) "
                    f"outside the clean band [{self.band_ratio[0]:g}, {self.band_ratio[1]:g}]"
                )
            worst_d = max(worst_d, d)
        component = SCORE_BAD_VALUE if math.isinf(worst_d) else worst_d / (1.0 + worst_d)
        return float(component), float(worst_r), reasons


__all__ = [
    "ISOLATION_FEATURES",
    "NOISE_BAND",
    "THRESHOLD",
    "AnomalyScorer",
    "isolation_features",
]
