"""Artifacts of issue 5: the explanation background, the anomaly isolation model and their cards.

    python -m training.anomaly [--quick] [--out DIR]

writes, reproducibly from ``SEED``,

- ``DIR/explain/``: ``background.npy`` (float64 [256, 4], columns x, z, Q,
  P_T: the first rows of a scrambled Sobol' sample of the training domain,
  ``training.sampling.sample_domain``, so √s varies over 28–141 GeV as in
  training), ``GLOBAL_SHAP.md`` with its PNGs (exact-engine Shapley summary
  per channel family, and the map of the fragmentation fraction), and
  ``manifest.json``;
- ``DIR/anomaly/``: ``isolation.onnx`` (an ``IsolationForest`` over the
  features of ``runtime.anomaly.ISOLATION_FEATURES``, fitted on the training
  domain, exported as one ai.onnx.ml ``TreeEnsembleRegressor`` (see
  ``isolation_graph``) taking float32, which is what sklearn's trees compare
  in; written only if ONNX and sklearn scores agree to ``PARITY_TOL`` on
  held-out and far-off points), ``MODEL_CARD.md`` (the injected
  anomaly table) and ``manifest.json``.

Calibration. The score (``runtime.anomaly``) is the maximum of components
that each put their own threshold at 0.5, and the score threshold is 0.5.
The isolation threshold is the (1 − ``ISOLATION_FPR``) quantile of the raw
isolation score on fresh training-domain points; the theory band is the
stated noise model (exact × U(0.8, 1.2) per channel). The build then
scores fresh clean data and refuses to write the manifest if the
false-positive rate exceeds ``FPR_BOUND``.

``--quick`` shrinks every sample (for tests); the artifacts in the repository
are built without it. Imports ``runtime.shapley`` and ``runtime.anomaly`` for
the scoring logic the service runs, so that the calibration is that of the
shipped code.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

import physics
from runtime.anomaly import (
    ISOLATION_FEATURES,
    ISOLATION_UNITS,
    ISOLATION_WIDTH,
    NOISE_BAND,
    THRESHOLD,
    AnomalyScorer,
    isolation_features,
)
from runtime.domain import DOMAIN
from runtime.shapley import FEATURES, exact_model, shapley_values
from training import anomaly_card
from training.sampling import sample_domain

SEED = 20260505
"""One seed for every random step (sub-seeds are SEED + k)."""

VERSION = "1.0.0"
BACKGROUND_SIZE = 256
ISOLATION_FPR = 0.005
"""Share of clean training-domain points the isolation component alone may flag."""
FPR_BOUND = 0.01
"""Largest acceptable false-positive rate of the combined score on clean data."""
PARITY_TOL = 1e-5
"""Max |ONNX − sklearn| of the isolation decision function (float32 arithmetic)."""

GLOBAL_SQRT_S = 63.0
FAMILIES = {
    "quark fragmentation (oct3s1_U)": ("oct3s1_U",),
    "photon–gluon fusion (oct1s0_U + oct3p0_U + sing3s1_U)": ("oct1s0_U", "oct3p0_U", "sing3s1_U"),
    "total_U": ("total_U",),
}
MAP_Q = (5.0, 10.0, 20.0, 40.0)
MAP_PT = (0.5, 2.0)

SIZES = {  # full build / --quick
    "isolation_train_log2": (15, 11),
    "isolation_calib_log2": (13, 10),
    "isolation_calib_per_sqrt_s": (4000, 400),
    "n_estimators": (200, 50),
    "fpr_per_sqrt_s": (2000, 200),
    "card_per_sqrt_s": (400, 40),
    "shap_points": (400, 40),
}


def _size(key: str, quick: bool) -> int:
    return SIZES[key][1 if quick else 0]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _versions() -> dict:
    import onnx
    import onnxruntime
    import scipy
    import sklearn

    return {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def explain_background(n: int = BACKGROUND_SIZE, seed: int = SEED) -> np.ndarray:
    """[n, 4] (x, z, Q, P_T) float64: the first n Sobol' points of the training domain."""
    log2_n = int(np.ceil(np.log2(n / 0.25)))  # acceptance of the domain in its box is ≈ 0.36
    pts = sample_domain(log2_n, seed)
    if pts.shape[0] < n:
        raise RuntimeError(f"only {pts.shape[0]} domain points from 2**{log2_n} draws")
    return np.ascontiguousarray(pts[:n, 1:], dtype=np.float64)


# --- anomaly -------------------------------------------------------------------------------


def fit_isolation(quick: bool, seed: int = SEED):
    """IsolationForest on the isolation features of Sobol' training-domain points."""
    from sklearn.ensemble import IsolationForest

    pts = sample_domain(_size("isolation_train_log2", quick), seed + 1)
    X = isolation_features(pts[:, 1:], pts[:, 0])
    model = IsolationForest(
        n_estimators=_size("n_estimators", quick), max_samples=256, random_state=seed
    )
    return model.fit(X), X


def average_path_length(n: np.ndarray) -> np.ndarray:
    """c(n): mean path length of an unsuccessful BST search among n points (Liu et al. 2008)."""
    n = np.asarray(n, dtype=float)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


def _floor32(t: np.ndarray) -> np.ndarray:
    """Largest float32 ≤ t: for float32 x, x ≤ t ⟺ x ≤ floor32(t) (sklearn compares in double)."""
    t32 = t.astype(np.float32)
    return np.where(t32.astype(float) > t, np.nextafter(t32, np.float32(-np.inf)), t32)


def isolation_graph(model):
    """The forest's ``decision_function`` as an ONNX graph: one ``TreeEnsembleRegressor``.

    Each leaf carries its depth (in edges) + c(n_leaf), the path length sklearn adds up
    (``IsolationForest._compute_score_samples``); the ensemble sums over
    trees, and score = −2^(−Σ / (T c(ψ))) − offset_. Thresholds are rounded
    down to float32, so routing of float32 inputs is identical to sklearn's.
    skl2onnx's converter emits the same operator once per tree plus ~10
    helper nodes each (≈ 2,000 nodes for 200 trees), which onnxruntime takes
    13–16 s to load here; this graph has 6 nodes and loads in milliseconds.
    Input "features" float32 [N, 6]; output "scores" float32 [N, 1].
    """
    from onnx import TensorProto, helper, numpy_helper

    if model.max_features != 1.0 or model.n_features_in_ != len(ISOLATION_FEATURES):
        raise ValueError("isolation_graph expects every tree to see every feature")
    nodes = {k: [] for k in ("tree", "id", "feature", "value", "mode", "true", "false")}
    targets = {k: [] for k in ("tree", "id", "weight")}
    for t, est in enumerate(model.estimators_):
        tree = est.tree_
        left, right = tree.children_left, tree.children_right
        depth = np.zeros(tree.node_count)
        for k in range(tree.node_count):  # children have larger ids than their parent
            if left[k] >= 0:
                depth[left[k]] = depth[right[k]] = depth[k] + 1
        leaf = left < 0
        value = depth + average_path_length(tree.n_node_samples)  # depth in edges
        nodes["tree"] += [t] * tree.node_count
        nodes["id"] += list(range(tree.node_count))
        nodes["feature"] += np.where(leaf, 0, tree.feature).tolist()
        nodes["value"] += np.where(leaf, 0.0, _floor32(tree.threshold)).tolist()
        nodes["mode"] += ["LEAF" if lf else "BRANCH_LEQ" for lf in leaf]
        nodes["true"] += np.where(leaf, 0, left).tolist()
        nodes["false"] += np.where(leaf, 0, right).tolist()
        ids = np.flatnonzero(leaf)
        targets["tree"] += [t] * ids.size
        targets["id"] += ids.tolist()
        targets["weight"] += value[ids].tolist()
    ensemble = helper.make_node(
        "TreeEnsembleRegressor",
        ["features"],
        ["path_sum"],
        domain="ai.onnx.ml",
        n_targets=1,
        aggregate_function="SUM",
        post_transform="NONE",
        nodes_treeids=nodes["tree"],
        nodes_nodeids=nodes["id"],
        nodes_featureids=nodes["feature"],
        nodes_values=nodes["value"],
        nodes_modes=nodes["mode"],
        nodes_truenodeids=nodes["true"],
        nodes_falsenodeids=nodes["false"],
        nodes_missing_value_tracks_true=[0] * len(nodes["id"]),
        target_ids=[0] * len(targets["id"]),
        target_nodeids=targets["id"],
        target_treeids=targets["tree"],
        target_weights=targets["weight"],
    )
    scale = -1.0 / (len(model.estimators_) * average_path_length([model.max_samples_])[0])
    consts = {
        "scale": np.array(scale, dtype=np.float32),
        "two": np.array(2.0, dtype=np.float32),
        "offset": np.array(model.offset_, dtype=np.float32),
    }
    graph = helper.make_graph(
        [
            ensemble,
            helper.make_node("Mul", ["path_sum", "scale"], ["exponent"]),
            helper.make_node("Pow", ["two", "exponent"], ["anomaly"]),
            helper.make_node("Neg", ["anomaly"], ["score_samples"]),
            helper.make_node("Sub", ["score_samples", "offset"], ["scores"]),
        ],
        "isolation_forest",
        [
            helper.make_tensor_value_info(
                "features", TensorProto.FLOAT, [None, model.n_features_in_]
            )
        ],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [None, 1])],
        [numpy_helper.from_array(v, k) for k, v in consts.items()],
    )
    onx = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)],
        producer_name="training.anomaly",
    )
    onx.ir_version = 8
    return onx


def export_isolation(model, X_check: np.ndarray) -> tuple[bytes, float]:
    """ONNX bytes of the forest and max |ONNX − sklearn| decision on ``X_check`` (≤ PARITY_TOL)."""
    import onnx
    import onnxruntime as ort

    onx = isolation_graph(model)
    onnx.checker.check_model(onx)
    blob = onx.SerializeToString()
    sess = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    got = sess.run(["scores"], {"features": X_check})[0].reshape(-1)
    parity = float(np.max(np.abs(got - model.decision_function(X_check))))
    if not parity <= PARITY_TOL:
        raise RuntimeError(f"ONNX/sklearn isolation parity {parity:.3g} > {PARITY_TOL:g}")
    return blob, parity


def build_anomaly(out: Path, quick: bool, command: str, seed: int = SEED) -> dict:
    import onnxruntime as ort

    t0 = time.perf_counter()
    model, X_train = fit_isolation(quick, seed)
    # parity on held-out domain points and on points well outside (wider than any request)
    held_out = sample_domain(_size("isolation_calib_log2", quick), seed + 2)
    X_held = isolation_features(held_out[:, 1:], held_out[:, 0])
    rng = np.random.default_rng(seed + 3)
    X_far = X_held + rng.normal(0.0, 1.0, X_held.shape).astype(np.float32)
    blob, parity = export_isolation(model, np.concatenate([X_held, X_far]))
    # threshold: the worst per-beam-energy quantile, so that requests at the ends of the
    # √s range (sparser in the ln √s feature) are not flagged more often than ISOLATION_FPR
    per_rs = {}
    for rs in anomaly_card.SQRT_S:
        pts = anomaly_card.domain_points(_size("isolation_calib_per_sqrt_s", quick), rs, rng)
        raw = -model.score_samples(isolation_features(pts, rs))
        per_rs[rs] = float(np.quantile(raw, 1.0 - ISOLATION_FPR))
    t_iso = max(per_rs.values())
    manifest = {
        "name": "jpsi-anomaly",
        "kind": "anomaly",
        "version": VERSION,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "features": {
            "input": "features",
            "dtype": "float32",
            "order": list(ISOLATION_FEATURES),
            "units": ISOLATION_UNITS,
            "from": "point (x, z, Q [GeV], PT [GeV]) and sqrt_s [GeV]",
        },
        "training_domain": DOMAIN.to_manifest(),
        "thresholds": {
            "score": THRESHOLD,
            "isolation": t_iso,
            "isolation_width": ISOLATION_WIDTH,
        },
        "calibration": {
            "noise_model": "sigma_supplied = sigma_exact * U(0.8, 1.2), independent per output",
            "noise_band": list(NOISE_BAND),
            "isolation_offset": float(model.offset_),
            "isolation_fpr_target": ISOLATION_FPR,
            "isolation_calibration_points_per_sqrt_s": _size("isolation_calib_per_sqrt_s", quick),
            "isolation_quantile_per_sqrt_s": {f"{k:g}": v for k, v in per_rs.items()},
            "fpr_bound": FPR_BOUND,
        },
        "model": {
            "estimator": "sklearn.ensemble.IsolationForest",
            "n_estimators": int(model.n_estimators),
            "max_samples": 256,
            "n_train": int(X_train.shape[0]),
        },
        "files": {},
        "library_versions": _versions(),
        "seed": seed,
        "command": command,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "isolation.onnx").write_bytes(blob)
    scorer = AnomalyScorer(ort.InferenceSession(blob, providers=["CPUExecutionProvider"]), manifest)
    fpr_rng = np.random.default_rng(seed + 4)
    clean = anomaly_card.clean_scores(scorer, _size("fpr_per_sqrt_s", quick), fpr_rng)
    fpr = float(np.mean(clean > scorer.threshold))
    if fpr > FPR_BOUND:
        raise RuntimeError(f"clean false-positive rate {fpr:.4f} > {FPR_BOUND}")
    table = anomaly_card.evaluate(scorer, _size("card_per_sqrt_s", quick), seed + 5)
    manifest["metrics"] = {
        "onnx_sklearn_parity_max_abs": parity,
        "parity_tolerance": PARITY_TOL,
        "clean_fpr": fpr,
        "clean_n": int(clean.size),
        "injected": table,
    }
    (out / "MODEL_CARD.md").write_text(anomaly_card_markdown(manifest, table))
    manifest["files"] = {name: _sha256(out / name) for name in ("isolation.onnx", "MODEL_CARD.md")}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"anomaly: written to {out} in {time.perf_counter() - t0:.1f} s; clean FPR {fpr:.4f}")
    return manifest


def anomaly_card_markdown(manifest: dict, table: dict) -> str:
    th = manifest["thresholds"]
    m = manifest["metrics"]
    features = ", ".join(manifest["features"]["order"])
    return f"""# Anomaly scorer (`/v1/anomaly`), version {manifest["version"]}

Scores a point (x, z, Q, P_T at a request's √s), optionally with σ values a
client supplies for any channel, in [0, 1] (higher = more anomalous). Code:
`service/anomaly.py`; built by `{manifest["command"]}` (seed {manifest["seed"]}).

## Components (score = their maximum; each puts its own threshold at 0.5)

| component | fires when | value |
|---|---|---|
| unphysical | a rule of the physical domain fails (y > 1, W < M + m_p, off the PDF grid, …) | 1.0 |
| outside_training_domain | physical but outside the training domain | 0.75 |
| isolation | IsolationForest score a on {features} above t = {th["isolation"]:.4f} \
| logistic((a − t)/{th["isolation_width"]}) |
| theory | a supplied channel outside exact × [{NOISE_BAND[0]}, {NOISE_BAND[1]}], \
or a value ≤ 0 / not finite | d/(1 + d), 1.0 |

d is the largest log10(supplied/exact) in units of the band edge (log10 1.2
above, log10 0.8 below); `theory_residual` reports max |log10(supplied/exact)|
in dex.

## Calibration

Noise model of clean data: {manifest["calibration"]["noise_model"]}.
The isolation threshold is the largest, over beam energies 28, 45, 63, 100
and 141 GeV, of the {100 * (1 - ISOLATION_FPR):.1f} % quantile of the raw isolation
score on {manifest["calibration"]["isolation_calibration_points_per_sqrt_s"]} fresh
training-domain points per beam energy. Score threshold: {th["score"]}.
False-positive rate on {m["clean_n"]} fresh clean points (5 beam energies,
28–141 GeV): **{100 * m["clean_fpr"]:.2f} %** (bound {100 * FPR_BOUND:.0f} %). With
bounded ±20 % noise the theory component has no false positives by
construction; the isolation component accounts for all of them. The guaranteed detection
limit of a one-channel rescaling is ×1.5 or ÷1.5 (1.5 × 0.8 = 1.2); smaller
factors are caught only when the noise pushes them out of the band.

`isolation.onnx` is the forest as a single ai.onnx.ml `TreeEnsembleRegressor`
(leaf value = depth + c(n_leaf), summed over trees, then sklearn's
score transform; `training/anomaly.py:isolation_graph`). ONNX vs sklearn
`decision_function` (float32 input): max |Δ| = {m["onnx_sklearn_parity_max_abs"]:.2e}
on held-out and far-off points (tolerance {PARITY_TOL:g}).

## Injected anomalies (ROC AUC vs clean, recall at the threshold)

{anomaly_card.table_markdown(table)}
Regenerate with `python bench/anomaly.py` (fresh seed, larger sample).

## Limits

- The theory component needs the exact engine at the request's theory
  defaults; values computed with other LDMEs or PDFs look anomalous.
- Channel swaps are invisible where the two swapped values agree within
  the noise band; unit mistakes only on some channels are caught like
  one-channel rescalings.
- The isolation forest flags sparse corners of the training domain at the
  calibrated rate ({100 * ISOLATION_FPR:.1f} %) whatever the σ values.
"""


# --- explanations ----------------------------------------------------------------------------


def family_model(channels: tuple[str, ...], sqrt_s: float):
    """f(rows) = log10 Σ channels at √s (exact engine), NaN where unphysical."""
    if len(channels) == 1:
        return exact_model(channels[0], sqrt_s)

    def f(rows):
        ev = physics.evaluate(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3], sqrt_s=sqrt_s)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log10(sum(ev[c] for c in channels))

    return f


def fraction_grid(Q: float, PT: float, sqrt_s: float = GLOBAL_SQRT_S, nx=160, nz=81):
    """(x, z, fragmentation fraction oct3s1_U / total_U) on a grid; NaN unphysical or P_T > zQ/2."""
    x = np.geomspace(1e-3, 0.999, nx)
    z = np.linspace(0.1, 0.9, nz)
    X, Z = np.meshgrid(x, z, indexing="ij")
    ev = physics.evaluate(X.ravel(), Z.ravel(), Q, PT, sqrt_s=sqrt_s)
    frac = (ev["oct3s1_U"] / ev["total_U"]).reshape(X.shape)
    frac[PT > 0.5 * Z * Q] = np.nan
    return x, z, frac


def build_explain(out: Path, quick: bool, command: str, seed: int = SEED) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    background = explain_background(BACKGROUND_SIZE, seed)
    np.save(out / "background.npy", background, allow_pickle=False)

    rng = np.random.default_rng(seed + 6)
    pts = anomaly_card.domain_points(_size("shap_points", quick), GLOBAL_SQRT_S, rng)
    shap = {}
    for label, channels in FAMILIES.items():
        base, phi, pred = shapley_values(family_model(channels, GLOBAL_SQRT_S), pts, background)
        shap[label] = {"base": base, "phi": phi, "pred": pred}
    ok = np.all([np.isfinite(s["phi"]).all(axis=1) for s in shap.values()], axis=0)

    # 1. bar summary: mean |φ| per feature and family
    fig, ax = plt.subplots(figsize=(7, 3.6))
    width = 0.8 / len(shap)
    for k, (label, s) in enumerate(shap.items()):
        mean_abs = np.abs(s["phi"][ok]).mean(axis=0)
        ax.barh(np.arange(4) + k * width, mean_abs, height=width, label=label)
    ax.set_yticks(np.arange(4) + 0.4 - width / 2, FEATURES)
    ax.invert_yaxis()
    ax.set_xlabel("mean |SHAP| of log10 σ (dex)")
    ax.set_title(f"Global importance, exact engine, √s = {GLOBAL_SQRT_S:g} GeV")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "shap_bar.png", dpi=110)
    plt.close(fig)

    # 2. beeswarm-like: φ per feature, coloured by the feature's rank
    fig, axes = plt.subplots(1, len(shap), figsize=(12, 3.6), sharey=True)
    for ax, (label, s) in zip(axes, shap.items(), strict=True):
        for j in range(4):
            v = pts[ok, j]
            rank = np.argsort(np.argsort(v)) / max(v.size - 1, 1)
            jitter = rng.uniform(-0.3, 0.3, v.size)
            sc = ax.scatter(s["phi"][ok, j], j + jitter, c=rank, cmap="coolwarm", s=4)
        ax.axvline(0.0, color="gray", lw=0.5)
        ax.set_title(label.split(" (")[0], fontsize=9)
        ax.set_xlabel("SHAP value (dex)")
    axes[0].set_yticks(range(4), FEATURES)
    axes[0].invert_yaxis()
    fig.colorbar(sc, ax=axes, label="feature value (rank: low → high)")
    fig.savefig(out / "shap_beeswarm.png", dpi=110, bbox_inches="tight")
    plt.close(fig)

    # 3. fragmentation fraction over (x, z)
    fig, axes = plt.subplots(len(MAP_PT), len(MAP_Q), figsize=(13, 6), sharex=True, sharey=True)
    stats = []
    for r, PT in enumerate(MAP_PT):
        for c, Q in enumerate(MAP_Q):
            x, z, frac = fraction_grid(Q, PT)
            ax = axes[r, c]
            im = ax.pcolormesh(x, z, frac.T, vmin=0, vmax=1, cmap="RdBu_r", shading="auto")
            if np.nanmax(frac) > 0.5 > np.nanmin(frac):
                ax.contour(x, z, np.nan_to_num(frac, nan=-1).T, levels=[0.5], colors="k")
            ax.set_xscale("log")
            ax.set_title(f"Q = {Q:g} GeV, P_T = {PT:g} GeV", fontsize=9)
            good = np.isfinite(frac)
            stats.append(
                {
                    "Q": Q,
                    "PT": PT,
                    "x_range": [float(x[good.any(1)].min()), float(x[good.any(1)].max())]
                    if good.any()
                    else None,
                    "share_frag_dominant": float(np.mean(frac[good] > 0.5)) if good.any() else None,
                    "frac_min": float(np.nanmin(frac)) if good.any() else None,
                    "frac_max": float(np.nanmax(frac)) if good.any() else None,
                }
            )
    for ax in axes[-1]:
        ax.set_xlabel("x")
    for ax in axes[:, 0]:
        ax.set_ylabel("z")
    fig.colorbar(im, ax=axes, label="oct3s1_U / total_U")
    fig.suptitle(f"Quark-fragmentation fraction, exact engine, √s = {GLOBAL_SQRT_S:g} GeV")
    fig.savefig(out / "fragmentation_fraction.png", dpi=110)
    plt.close(fig)

    # 4. fraction along z at fixed (x, Q): where PGF takes over near z → 1
    probes = []
    for Q, x in ((10.0, 0.1), (20.0, 0.3), (20.0, 0.6), (40.0, 0.6)):
        for PT in MAP_PT:
            zs = np.array([0.1, 0.3, 0.5, 0.7, 0.8, 0.9])
            ev = physics.evaluate(x, zs, Q, PT, sqrt_s=GLOBAL_SQRT_S)
            probes.append(
                {"Q": Q, "x": x, "PT": PT, "z": zs.tolist(),
                 "fraction": np.round(ev["oct3s1_U"] / ev["total_U"], 3).tolist()}
            )  # fmt: skip

    importance = {
        label: dict(zip(FEATURES, np.abs(s["phi"][ok]).mean(axis=0).round(4).tolist(), strict=True))
        for label, s in shap.items()
    }
    frag = shap[next(iter(FAMILIES))]["pred"][ok]
    pgf = shap[list(FAMILIES)[1]]["pred"][ok]
    summary = {
        "points": int(ok.sum()),
        "unexplainable": int((~ok).sum()),
        "share_frag_dominant": float(np.mean(frag > pgf)),
        "importance": importance,
        "fraction_maps": stats,
        "fraction_probes": probes,
    }
    (out / "GLOBAL_SHAP.md").write_text(global_shap_markdown(summary, background, command))
    files = ["background.npy", "GLOBAL_SHAP.md", "shap_bar.png", "shap_beeswarm.png",
             "fragmentation_fraction.png"]  # fmt: skip
    manifest = {
        "name": "jpsi-explain-background",
        "kind": "explain-background",
        "version": VERSION,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "files": {name: _sha256(out / name) for name in files},
        "columns": list(FEATURES),
        "units": {"x": "", "z": "", "Q": "GeV", "PT": "GeV"},
        "rows": int(background.shape[0]),
        "training_domain": DOMAIN.to_manifest(),
        "sampling": "first rows of training.sampling.sample_domain (scrambled Sobol', uniform in "
        "sqrt_s, ln x, z, ln Q, PT/PT_max; rejection to the domain); sqrt_s column dropped",
        "treatment_of_unphysical_hybrids": "coalition means over physical hybrids only "
        "(background truncated to the physical domain at the request's sqrt_s); see "
        "service/explain.py",
        "global_summary": summary,
        "seed": seed,
        "command": command,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"explain: written to {out} in {time.perf_counter() - t0:.1f} s")
    return manifest


def global_shap_markdown(summary: dict, background: np.ndarray, command: str) -> str:
    imp = summary["importance"]
    labels = list(imp)
    frag, pgf = imp[labels[0]], imp[labels[1]]
    maps = {(s["Q"], s["PT"]): s for s in summary["fraction_maps"]}
    probe = {(p["Q"], p["x"], p["PT"]): p["fraction"] for p in summary["fraction_probes"]}

    def m(Q, PT):
        return maps[(float(Q), float(PT))]

    def pc(stat):
        return f"{100 * stat['share_frag_dominant']:.0f}"

    def pr(Q, x, PT):
        return probe[(float(Q), float(x), float(PT))]

    rows = "\n".join(
        f"| {label} | " + " | ".join(f"{imp[label][f]:.3f}" for f in FEATURES) + " |"
        for label in labels
    )
    map_rows = "\n".join(
        f"| {s['Q']:g} | {s['PT']:g} | "
        + (
            f"{s['x_range'][0]:.3g}–{s['x_range'][1]:.3g} | "
            f"{100 * s['share_frag_dominant']:.0f} % | "
            f"{s['frac_min']:.3f}–{s['frac_max']:.3f} |"
            if s["x_range"]
            else "– | – | – |"
        )
        for s in summary["fraction_maps"]
    )
    probes = "\n".join(
        f"| {p['Q']:g} | {p['x']:g} | {p['PT']:g} | "
        + " | ".join(f"{v:.2f}" for v in p["fraction"])
        + " |"
        for p in summary["fraction_probes"]
    )
    zhead = " | ".join(f"z = {z:g}" for z in summary["fraction_probes"][0]["z"])
    return f"""# Global explanations: which mechanism where

Exact engine, √s = {GLOBAL_SQRT_S:g} GeV, {summary["points"]} points uniform in (ln x, z,
ln Q, P_T/P_T,max) over the training domain at that √s
({summary["unexplainable"]} left out: a coalition without a physical
hybrid). Shapley values of log10 σ over (x, z, Q, P_T) against the shipped
background ({background.shape[0]} training-domain rows, `background.npy`),
computed as `/v1/explain` computes them (`service/explain.py`). Built by
`{command}`.

## Feature importance (mean |SHAP|, dex)

| target | {" | ".join(FEATURES)} |
|---|---:|---:|---:|---:|
{rows}

![bar summary](shap_bar.png)

![beeswarm](shap_beeswarm.png)

In {100 * summary["share_frag_dominant"]:.0f} % of these points quark fragmentation
(oct3s1_U) is larger than photon–gluon fusion (oct1s0_U + oct3p0_U + sing3s1_U).

## Where each mechanism dominates (checked on the exact engine)

Fragmentation fraction oct3s1_U / total_U on an (x, z) grid (log x from
1e-3, z 0.1–0.9), √s = {GLOBAL_SQRT_S:g} GeV; cells that are unphysical or
outside the TMD region (P_T > zQ/2) are left out.

| Q (GeV) | P_T (GeV) | physical x | (ln x, z) area with fraction > 0.5 | fraction |
|---:|---:|---|---:|---|
{map_rows}

![fragmentation fraction](fragmentation_fraction.png)

Fraction along z at fixed (x, Q):

| Q (GeV) | x | P_T (GeV) | {zhead} |
|---:|---:|---:|{"---:|" * len(summary["fraction_probes"][0]["z"])}
{probes}

In words (the original study's question):

- **Photon–gluon fusion dominates at low Q and small x.** At Q = 5 GeV the
  fragmentation fraction is at most {m(5, 2.0)["frac_max"]:.2f} anywhere in the
  physical plane; at Q = 10 GeV fragmentation wins on only
  {pc(m(10, 0.5))}–{pc(m(10, 2.0))} % of it (x ≳ 0.5). At fixed √s, low Q means
  small x, where the gluon density is large, and PGF falls as 1/Q⁶ against
  1/Q⁴ for fragmentation.
- **Quark fragmentation dominates at large Q and large x.** At Q = 40 GeV
  (x ≥ {m(40, 0.5)["x_range"][0]:.2f} at this √s) it carries more than half of
  total_U on {pc(m(40, 0.5))} % of the plane at P_T = 0.5 GeV and on
  {pc(m(40, 2.0))} % at P_T = 2 GeV; at Q = 20 GeV it wins on
  {pc(m(20, 0.5))}–{pc(m(20, 2.0))} % of the plane, the large-x side (valence
  quarks against a falling gluon).
- **z and P_T move the boundary.** The colour-octet PGF channels carry
  narrow Gaussians in 1 − z (⟨(1−z)²⟩ = 0.04) and P_T (⟨P_T²⟩ = 0.25 GeV²):
  at small P_T they take over as z → 1 (Q = 40 GeV, x = 0.6, P_T = 0.5 GeV:
  the fraction falls from {pr(40, 0.6, 0.5)[0]:.2f} at z = 0.1 to
  {pr(40, 0.6, 0.5)[-1]:.2f} at z = 0.9), while at P_T = 2 GeV only the
  colour-singlet PGF channel is left and the fraction hardly depends on z
  ({min(pr(40, 0.6, 2.0)):.2f}–{max(pr(40, 0.6, 2.0)):.2f} at the same x, Q).
- **The SHAP summary agrees.** x and Q carry most of the variation of both
  families (mean |φ| of x: {frag["x"]:.2f} dex for fragmentation, {pgf["x"]:.2f} for
  PGF; of Q: {frag["Q"]:.2f} and {pgf["Q"]:.2f}); P_T matters mainly for PGF
  ({pgf["PT"]:.2f} against {frag["PT"]:.2f} dex: the octet Gaussians and the singlet's
  1/(P_T² + (1 − z)² M²)); z matters
  little for either ({frag["z"]:.2f} and {pgf["z"]:.2f}): the singlet channel,
  without a Gaussian in z, dominates the PGF sum below z ≈ 0.6.
"""


# --- entry point -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.anomaly", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="small samples (tests)")
    parser.add_argument("--out", type=Path, default=Path("artifacts"), help="artifacts directory")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    command = "python -m training.anomaly" + (" --quick" if args.quick else "")
    if args.seed != SEED:
        command += f" --seed {args.seed}"
    build_explain(args.out / "explain", args.quick, command, args.seed)
    build_anomaly(args.out / "anomaly", args.quick, command, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
