"""Seeds, versions and sample sizes of the explanation and anomaly builds (``jpsi-train``)."""

from __future__ import annotations

SEED = 20260505
"""One seed for every random step of these builds (sub-seeds are SEED + k)."""

VERSION = "1.0.0"

SIZES = {  # full build / --quick
    "isolation_train_log2": (15, 11),
    "isolation_calib_log2": (13, 10),
    "isolation_calib_per_sqrt_s": (4000, 400),
    "n_estimators": (200, 50),
    "fpr_per_sqrt_s": (2000, 200),
    "card_per_sqrt_s": (400, 40),
    "shap_points": (400, 40),
}

LIBRARIES = ("numpy", "scipy", "scikit-learn", "onnx", "onnxruntime", "matplotlib")
"""Distributions whose versions the manifests of these sets record."""


def size(key: str, quick: bool) -> int:
    """The sample size ``key`` of a full build, or of a ``--quick`` one."""
    return SIZES[key][1 if quick else 0]
