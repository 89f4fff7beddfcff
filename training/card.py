"""The model card (``MODEL_CARD.md``) and its PNG plots, written next to the ONNX model.

Plots: per-output error distributions (surrogate vs baseline), binned P_T
spectra in the original study's bins at √s = 63 GeV (exact vs surrogate vs
baseline, same quadrature for all three), a baseline-vs-production summary,
and a map of where in (x, Q) the surrogate is weakest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from physics import OUTPUTS
from physics.constants import M_PROTON, W_THRESHOLD
from runtime.onnx import predict, session
from training.metrics import TARGETS
from training.targets import exact_sigma

PLOTS = {
    "errors": "errors_per_channel.png",
    "spectra": "pt_spectra_sqrts63.png",
    "comparison": "baseline_vs_production.png",
    "weakest": "weakest_region.png",
}
SPECTRUM_SQRT_S = 63.0
X_BINS = ((0.1, 0.5), (0.5, 0.9))
Z_BINS = ((0.1, 0.4), (0.4, 1.0))
Q_BINS = ((10.0, 30.0), (30.0, 50.0))
PT_VALUES = np.linspace(0.05, 3.0, 24)
_SAVE: dict[str, Any] = {"dpi": 90, "metadata": {"Software": None}}


def _errors(run, path: Path) -> None:
    fig, axes = plt.subplots(2, 5, figsize=(16, 6), sharex=True)
    bins = np.linspace(-12, 1, 66)
    for k, (ax, name) in enumerate(zip(axes.ravel(), OUTPUTS, strict=True)):
        for label, key, color in (
            ("production", "surrogate", "C0"),
            ("baseline", "baseline", "C3"),
        ):
            rel = np.abs(run.predictions[key][:, k] / run.data["sigma"][run.data["test"]][:, k] - 1)
            ax.hist(np.log10(np.maximum(rel, 1e-12)), bins=bins, histtype="step", color=color,
                    label=label)  # fmt: skip
        ax.axvline(np.log10(TARGETS["median"]), color="k", ls=":", lw=0.8)
        ax.axvline(np.log10(TARGETS["p99"]), color="k", ls="--", lw=0.8)
        ax.set_title(name)
        ax.set_yscale("log")
    for ax in axes[1]:
        ax.set_xlabel("log10 |σ_pred/σ_exact − 1|")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Test-set relative error per output (dotted: median target, dashed: p99 target)")
    fig.tight_layout()
    fig.savefig(path, **_SAVE)
    plt.close(fig)


def binned_spectra(predict_fn, n_nodes: int = 6) -> np.ndarray:
    """dσ/dP_T² [x bin, z bin, Q bin, P_T, output] in pb/GeV² at √s = 63 GeV.

    Tensor Gauss–Legendre in (x, z, Q) with dQ² = 2Q dQ over each bin, counting
    only physical points (y ≤ 1, W ≥ M + m_p); ``predict_fn`` maps features [N, 5] → σ.
    """
    t, w = np.polynomial.legendre.leggauss(n_nodes)
    out = np.zeros((len(X_BINS), len(Z_BINS), len(Q_BINS), PT_VALUES.size, len(OUTPUTS)))
    s = SPECTRUM_SQRT_S**2
    for i, (x0, x1) in enumerate(X_BINS):
        for j, (z0, z1) in enumerate(Z_BINS):
            for k, (q0, q1) in enumerate(Q_BINS):
                nodes = [(lo + (hi - lo) * (t + 1) / 2, (hi - lo) / 2 * w)
                         for lo, hi in ((x0, x1), (z0, z1), (q0, q1))]  # fmt: skip
                (x, wx), (z, wz), (Q, wq) = nodes
                X, Z, QQ, PT = np.meshgrid(x, z, Q, PT_VALUES, indexing="ij")
                W = wx[:, None, None] * wz[None, :, None] * (wq * 2 * Q)[None, None, :]
                y = QQ**2 / (X * s)
                w2 = QQ**2 * (1 - X) / X + M_PROTON**2
                ok = (y <= 1.0) & (w2 >= W_THRESHOLD**2)
                feats = np.column_stack(
                    [np.full(X[ok].size, SPECTRUM_SQRT_S), X[ok], Z[ok], QQ[ok], PT[ok]]
                )
                sig = np.zeros((*X.shape, len(OUTPUTS)))
                if feats.size:
                    sig[ok] = predict_fn(feats)
                out[i, j, k] = np.einsum("abcpo,abc->po", sig, W)
    return out


def _spectra(run, path: Path) -> None:
    sess = session(run.onnx_model.SerializeToString())
    curves = {
        "exact": binned_spectra(exact_sigma),
        "production": binned_spectra(lambda f: predict(sess, f)),
        "baseline": binned_spectra(run.baseline.predict),
    }
    run.data["spectra"] = curves
    fig, axes = plt.subplots(len(X_BINS), len(Z_BINS) * len(Q_BINS), figsize=(16, 7), sharex=True)
    tot = OUTPUTS.index("total_U")
    for i, xb in enumerate(X_BINS):
        for j, zb in enumerate(Z_BINS):
            for k, qb in enumerate(Q_BINS):
                ax = axes[i, 2 * j + k]
                ax.plot(PT_VALUES, curves["exact"][i, j, k, :, tot], "k-", lw=2, label="exact")
                ax.plot(
                    PT_VALUES, curves["production"][i, j, k, :, tot], "C0--", label="production"
                )
                ax.plot(PT_VALUES, curves["baseline"][i, j, k, :, tot], "C3:", label="baseline")
                ax.set_yscale("log")
                ax.set_title(f"x{list(xb)} z{list(zb)} Q{list(qb)}", fontsize=8)
                if i == len(X_BINS) - 1:
                    ax.set_xlabel("P_T [GeV]")
    axes[0, 0].set_ylabel("dσ/dP_T² total_U [pb/GeV²]")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"Binned P_T spectra at √s = {SPECTRUM_SQRT_S:g} GeV (physical part of each bin)")
    fig.tight_layout()
    fig.savefig(path, **_SAVE)
    plt.close(fig)


def _comparison(run, path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.5))
    idx = np.arange(len(OUTPUTS))
    for ax, stat in zip(axes, ("median", "p99"), strict=True):
        prod = [run.metrics[n][stat] for n in OUTPUTS]
        base = [run.baseline_metrics[n][stat] for n in OUTPUTS]
        ax.bar(idx - 0.2, prod, 0.4, label="production (spline + closed form)")
        ax.bar(idx + 0.2, base, 0.4, label="baseline (boosted trees on log10 σ)", color="C3")
        ax.axhline(TARGETS[stat], color="k", ls="--", lw=0.8, label="target")
        ax.set_yscale("log")
        ax.set_xticks(idx, OUTPUTS, rotation=45, ha="right", fontsize=8)
        ax.set_title(f"{stat} relative error on the test set")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, **_SAVE)
    plt.close(fig)


def _weakest(run, path: Path) -> None:
    pts = run.data["points"][run.data["test"]]
    rel = np.abs(run.predictions["surrogate"] / run.data["sigma"][run.data["test"]] - 1).max(axis=1)
    lx, lq = np.log10(pts[:, 1]), np.log10(pts[:, 3])
    ex = np.linspace(lx.min(), lx.max(), 41)
    eq = np.linspace(lq.min(), lq.max(), 21)
    ix = np.clip(np.digitize(lx, ex) - 1, 0, ex.size - 2)
    iq = np.clip(np.digitize(lq, eq) - 1, 0, eq.size - 2)
    grid = np.full((ex.size - 1, eq.size - 1), np.nan)
    for a in range(ex.size - 1):
        for b in range(eq.size - 1):
            sel = rel[(ix == a) & (iq == b)]
            if sel.size >= 5:
                grid[a, b] = np.percentile(sel, 99)
    fig, ax = plt.subplots(figsize=(8, 5))
    mesh = ax.pcolormesh(ex, eq, np.log10(grid.T), cmap="viridis", shading="flat")
    fig.colorbar(mesh, label="log10 p99 of max-over-outputs relative error")
    ax.set_xlabel("log10 x")
    ax.set_ylabel("log10 Q [GeV]")
    ax.set_title("Where the surrogate is weakest (test set, p99 per cell)")
    fig.tight_layout()
    fig.savefig(path, **_SAVE)
    plt.close(fig)
    worst = np.unravel_index(np.nanargmax(grid), grid.shape)
    run.data["weakest"] = {
        "log10_x": [float(ex[worst[0]]), float(ex[worst[0] + 1])],
        "log10_Q": [float(eq[worst[1]]), float(eq[worst[1] + 1])],
        "p99": float(grid[worst]),
    }


def plots(run, directory: Path) -> None:
    _errors(run, directory / PLOTS["errors"])
    _spectra(run, directory / PLOTS["spectra"])
    _comparison(run, directory / PLOTS["comparison"])
    _weakest(run, directory / PLOTS["weakest"])


def _table(metrics: dict) -> str:
    rows = ["| output | median | p90 | p99 | max |", "|---|---|---|---|---|"]
    for name in OUTPUTS:
        m = metrics[name]
        stats = " | ".join(f"{m[k]:.2e}" for k in ("median", "p90", "p99", "max"))
        rows.append(f"| {name} | {stats} |")
    return "\n".join(rows)


def _spectrum_agreement(run) -> str:
    c = run.data["spectra"]
    with np.errstate(divide="ignore", invalid="ignore"):
        prod = np.nanmax(np.abs(c["production"] / c["exact"] - 1))
        base = np.nanmax(np.abs(c["baseline"] / c["exact"] - 1))
    return f"{prod:.1e} (production) and {base:.1e} (baseline)"


def write_card(run, directory: Path) -> None:
    c = run.config
    sel = "\n".join(
        f"| {s['n_cells'][0]} × {s['n_cells'][1]} | {s['table_mb']} | "
        f"{s['val_median_abs_dlnf']:.2e} | "
        f"{s['val_p99_abs_dlnf']:.2e} | {s['val_max_abs_dlnf']:.2e} | {s['fit_seconds']} | "
        f"{'**selected**' if s['selected'] else ''} |"
        for s in run.selection
    )
    t = run.timing
    n_test = run.data["test"].size
    weakest = run.data["weakest"]
    text = f"""# Model card: jpsi-surrogate {"(quick run: NOT for shipping)" if c.quick else ""}

J/ψ production in e p SIDIS at leading order (NRQCD + TMD, `docs/physics.md`):
all eight channels plus total_U and total_L, pb/GeV⁴, for the default theory
(PDF set {run.theory.pdf_set}, quarks "{run.theory.quarks}", Chao et al. LDMEs).

## Interface

`surrogate.onnx`, float64 throughout. Input `features` [N, 5]: sqrt_s (GeV), x, z,
Q (GeV), PT (GeV). Output `sigma` [N, 10] in `physics.OUTPUTS` order, pb/GeV⁴. Finite
for any finite physical input; outside the training domain (below) the numbers are
not validated and the service flags them.

## Training domain

28 ≤ √s ≤ 141 GeV, 5 ≤ Q ≤ 100 GeV, 0.1 ≤ z ≤ 0.9, 0 ≤ P_T ≤ min(zQ/2, 10 GeV),
0.01 ≤ y ≤ 0.95, W ≥ M + m_p = 4.038272 GeV. Test points are uniform in (√s, ln x, z,
ln Q, P_T/P_T,max) with unphysical points rejected (scrambled Sobol', seed {c.seed}).

## Design

Every channel is Σ_k a_k(x, Q, y) b_k(z, P_T) (`physics.channels`). Only the two PDF
combinations are not known in closed form, so only they are learned:
f = [ln x·g, ln x·q_eff] as functions of (logit x, ln Q), with a scikit-learn
`Pipeline(TensorSplineFeatures, SparseRidge)` (uniform tensor-product B-splines of degree
{run.model.grid["degree"]}, {run.model.grid["n_cells"][0]} × {run.model.grid["n_cells"][1]} cells,
ridge α = {c.alpha:g}, no intercept, solved exactly by sparse LU). The grid is the smallest
candidate whose validation p99 of |Δ ln f| is below {c.select_p99:g} (20× under the p99
target): a fine bilinear grid is as accurate as a coarser bicubic one and much cheaper to
evaluate, and a small cell table stays in cache. The ONNX graph evaluates the spline
sparsely (cell lookup by Floor, Gather of the cell's polynomial coefficients, monomial sum;
custom skl2onnx converter) and appends the closed form, feature-major ([rows, N], so that
onnxruntime selects rows by memcpy): the monomials of (z, P_T²), every polynomial of them
in one Gemm, y = Q²/(x s) and its polynomials, three exponentials (PDFs, Q and x powers, the
PGF Gaussians), and every (z, P_T) term with its LDMEs, exactly as `physics.channels`.
Nothing but f is fitted.

Generic baseline for comparison: one `HistGradientBoostingRegressor` per output on the
raw features (√s, x, z, Q, P_T) → log10 σ ({c.baseline_iter} iterations, up to
{c.baseline_rows} training rows).

## Model selection (validation split, |Δ ln f| over both outputs)

| cells (logit x × ln Q) | table [MB] | median | p99 | max | fit [s] | |
|---|---|---|---|---|---|---|
{sel}

## Accuracy on the held-out test set ({n_test} points, every point counted)

Relative error |σ_pred/σ_exact − 1| against `physics.evaluate`. Targets: median ≤
{TARGETS["median"]:g}, p99 ≤ {TARGETS["p99"]:g} for every output.

Production surrogate:

{_table(run.metrics)}

Baseline (boosted trees on log10 σ):

{_table(run.baseline_metrics)}

Binned P_T spectra at √s = 63 GeV (original study's z and Q bins, x bins
{list(map(list, X_BINS))}): worst relative deviation from the exact integrand over all
bins, P_T values and outputs: {_spectrum_agreement(run)}.

Weakest region (p99 of the max-over-outputs error per (x, Q) cell): log10 x in
{[round(v, 2) for v in weakest["log10_x"]]}, log10 Q in
{[round(v, 2) for v in weakest["log10_Q"]]}, p99 = {weakest["p99"]:.2e}. The error is
entirely the spline's: near the knots of the PDF grid (whose LHAPDF interpolation is
only C¹) and towards x → 1, where ln x·f falls steeply.

## Parity gate (export)

ONNX vs scikit-learn on the test set, float64: max |Δ ln f| =
{run.parity["spline_max_abs_dlnf"]:.1e} (limit 1e-9); ONNX σ vs the closed form evaluated
on the scikit-learn prediction: max relative difference
{run.parity["sigma_max_rel_vs_sklearn"]:.1e} (limit 1e-9). Artifacts are written only if
both hold and every output meets the accuracy targets.

## Speed (single-threaded onnxruntime, this training machine)

{t["points_per_second"]:.3g} points/s at batch {t["batch"]}; batch-1 latency
{t["batch1_latency_us"]:.1f} µs (median, IOBinding with pre-allocated buffers). See
`bench/surrogate_vs_exact.py` for the comparison with the exact engine.

## Plots

- `{PLOTS["errors"]}`: error distributions per output, production vs baseline.
- `{PLOTS["spectra"]}`: binned P_T spectra, exact vs production vs baseline.
- `{PLOTS["comparison"]}`: median and p99 per output, production vs baseline.
- `{PLOTS["weakest"]}`: p99 error over (x, Q).

## Limitations

- Valid for the default theory only. LDMEs enter linearly, so a client may rescale
  channels exactly; another PDF set or quark choice needs retraining.
- Outside the training domain the (x, Q) spline is clamped onto its box; results there
  are not validated.

## Reproduce

`make train` (= `jpsi-train`, seed {c.seed}); the same seed gives the same metrics.
"""
    (directory / "MODEL_CARD.md").write_text(text)
