"""Accuracy metrics: relative error |σ_pred/σ_exact − 1| per output, over all points."""

from __future__ import annotations

import numpy as np

from physics import OUTPUTS

TARGETS = {"median": 1e-3, "p99": 1e-2}
"""Issue 3's accuracy targets on the held-out test set, every output."""


def relative_error(pred: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """|pred/exact − 1| elementwise; exact zeros count as 0 if pred is 0 too, else inf."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(pred / exact - 1.0)
    both_zero = (pred == 0.0) & (exact == 0.0)
    rel[both_zero] = 0.0
    rel[np.isnan(rel)] = np.inf
    return rel


def summarize(rel: np.ndarray) -> dict[str, dict[str, float]]:
    """Per output: median, p90, p99, max of the relative error, and n_test."""
    out = {}
    for k, name in enumerate(OUTPUTS):
        r = rel[:, k]
        out[name] = {
            "median": float(np.median(r)),
            "p90": float(np.percentile(r, 90)),
            "p99": float(np.percentile(r, 99)),
            "max": float(np.max(r)),
            "n_test": int(r.size),
        }
    return out


def failures(summary: dict, targets: dict = TARGETS) -> list[str]:
    """Messages for every output whose median or p99 misses its target (empty if all pass)."""
    msgs = []
    for name, m in summary.items():
        for stat, limit in targets.items():
            if not m[stat] <= limit:
                msgs.append(f"{name}: {stat} relative error {m[stat]:.3g} > {limit:g}")
    return msgs
