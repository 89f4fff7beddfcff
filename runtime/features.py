"""The inputs of the shipped models: names, order and units, defined once.

Units: √s, Q and P_T in GeV; x and z dimensionless.
"""

from __future__ import annotations

SURROGATE_INPUT = "features"
"""Name of the surrogate graph's input, float64 [N, 5] in ``SURROGATE_FEATURES`` order."""

SURROGATE_OUTPUT = "sigma"
"""Name of its output, float64 [N, 10] in ``physics.OUTPUTS`` order, pb/GeV⁴."""

SURROGATE_FEATURES = ("sqrt_s", "x", "z", "Q", "PT")
"""Input columns of the surrogate, in order."""

KINEMATIC_FEATURES = ("x", "z", "Q", "PT")
"""A kinematic point's coordinates in column order: the features Shapley values explain, the
columns of the explanation background and of the anomaly scorer's points."""

FEATURE_UNITS = {"sqrt_s": "GeV", "x": "", "z": "", "Q": "GeV", "PT": "GeV"}
