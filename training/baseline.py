"""The generic baseline: gradient-boosted trees on raw features, fitted to log10 σ.

What a generic study would do: one ``HistGradientBoostingRegressor`` per
output on (√s, x, z, Q, P_T) → log10 σ, no physics. It is fitted and scored
on the same splits as the production surrogate, for the model card only.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from physics import OUTPUTS


class Baseline:
    """Ten independent boosted-tree regressors of log10 σ (one per output)."""

    def __init__(self, max_iter: int, random_state: int):
        self.models = [
            HistGradientBoostingRegressor(
                max_iter=max_iter, learning_rate=0.1, max_leaf_nodes=63,
                early_stopping=False, random_state=random_state,
            )
            for _ in OUTPUTS
        ]  # fmt: skip

    def fit(self, features: np.ndarray, sigma: np.ndarray, progress=None) -> Baseline:
        for k, model in enumerate(self.models):
            with threadpool_limits(1):  # deterministic, and polite on a shared machine
                model.fit(features, np.log10(sigma[:, k]))
            if progress is not None:
                progress.update(1)
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.column_stack([10.0 ** m.predict(features) for m in self.models])
