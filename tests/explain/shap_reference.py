"""Independent reference: Shapley values of the exact model from the ``shap`` library.

Run as a subprocess (``python -m tests.explain.shap_reference``) with
NUMBA_DISABLE_JIT=1: shap's exact explainer otherwise JIT-compiles for ~20 s
on first use, and importing shap emits a matplotlib deprecation warning that
the test suite turns into an error. Reads JSON {"points", "background",
"target", "sqrt_s"} on stdin; prints {"base_values", "values"}.
"""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np


def main() -> None:
    request = json.load(sys.stdin)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import shap

    from runtime.shapley import exact_model

    f = exact_model(request["target"], request["sqrt_s"])
    out = {"base_values": [], "values": []}
    for point, background in zip(request["points"], request["background"], strict=True):
        bg = np.asarray(background)
        explainer = shap.explainers.Exact(f, shap.maskers.Independent(bg, max_samples=len(bg)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sv = explainer(np.asarray([point]), silent=True)
        out["base_values"].append(float(np.ravel(sv.base_values)[0]))
        out["values"].append(np.asarray(sv.values)[0].tolist())
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
