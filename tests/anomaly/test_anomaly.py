"""Anomaly scores (service/anomaly.py): calibration, injected classes, reasons, malformed input."""

from __future__ import annotations

import math

import numpy as np
import pytest

import physics
from training import anomaly_card as card

POINT = [0.2, 0.5, 20.0, 1.0]


def exact_sigma(point, sqrt_s=63.0) -> dict[str, float]:
    ev = physics.evaluate(*point, sqrt_s=sqrt_s)
    return {k: float(ev[k][0]) for k in physics.OUTPUTS}


def test_false_positive_rate_on_fresh_clean_data_is_within_the_bound(scorer):
    # 4000 clean points (800 per beam energy, a seed the calibration never used). The build
    # targets ≤ 0.5 %; at a true rate of 1 % the count would be 40 ± 6, so "≤ 40" can tell
    # a calibrated scorer (≈ 10–20 expected) from one at the bound.
    scores = card.clean_scores(scorer, 800, np.random.default_rng(777))
    assert scores.size == 4000
    assert np.mean(scores > scorer.threshold) <= 0.01
    assert np.all((scores >= 0.0) & (scores <= 1.0))


@pytest.mark.parametrize(("seed", "kind"), list(enumerate(card.CLASSES)))
def test_every_injected_class_is_detected(scorer, seed, kind):
    rng = np.random.default_rng(seed)
    flagged = []
    for sqrt_s in (45.0, 141.0):
        pts, sigma, rs = card.anomalous_request(kind, 40, sqrt_s, rng)
        flagged += [r["is_anomaly"] for r in scorer.score(pts, rs, sigma)]
    # plain swaps include pairs of nearly equal values, invisible by construction (card: ~95 %)
    assert np.mean(flagged) >= (0.85 if kind == "swap" else 0.95)


def test_clean_point_has_low_score_and_no_reasons(scorer):
    (r,) = scorer.score([POINT], 63.0, [exact_sigma(POINT)])
    assert not r["is_anomaly"] and r["reasons"] == []
    assert r["components"]["theory_residual"] == pytest.approx(0.0, abs=1e-12)
    assert set(r["components"]) >= {"unphysical", "outside_training_domain", "isolation", "theory"}


def test_reasons_name_what_fired(scorer):
    sigma = exact_sigma(POINT)
    bad = dict(sigma, oct3s1_U=3 * sigma["oct3s1_U"], total_L=-1.0)
    points = [POINT, POINT, [0.01, 0.5, 40.0, 1.0], [0.2, 0.5, 4.5, 1.0]]
    rs = scorer.score(points, 63.0, [bad, None, None, None])
    assert rs[0]["is_anomaly"] and rs[0]["score"] == 1.0
    assert any("oct3s1_U" in m and "3" in m for m in rs[0]["reasons"])
    assert any("total_L = -1.0 is not a positive finite number" in m for m in rs[0]["reasons"])
    assert "theory" not in rs[1]["components"] and not rs[1]["is_anomaly"]
    assert rs[2]["score"] == 1.0 and any("y = " in m and "> 1" for m in rs[2]["reasons"])
    assert rs[3]["is_anomaly"] and any("Q = 4.5 GeV outside" in m for m in rs[3]["reasons"])


def test_non_finite_supplied_value_is_a_maximal_anomaly(scorer):
    (r,) = scorer.score([POINT], 63.0, [{"total_U": math.inf}])
    assert r["score"] == 1.0 and "not a positive finite number" in r["reasons"][0]


def test_zero_is_accepted_where_the_exact_value_is_zero(scorer):
    point = [0.2, 0.5, 20.0, 0.0]  # sing3s1_L ∝ P_T² vanishes at P_T = 0
    (r,) = scorer.score([point], 63.0, [{"sing3s1_L": 0.0}])
    assert not r["is_anomaly"]


@pytest.mark.parametrize(
    ("points", "sqrt_s", "sigma", "message"),
    [
        ([POINT], 63.0, [{"total_X": 1.0}], r"sigma\[0\]: unknown channel 'total_X'"),
        ([POINT], 63.0, [{"total_U": "1e-3"}], r"sigma\[0\].total_U must be a number"),
        ([POINT], 63.0, [{"total_U": True}], "must be a number"),
        ([POINT], 63.0, [None, None], "2 entries for 1 points"),
        ([POINT], 63.0, ["total_U"], r"sigma\[0\] must be a dict"),
        ([POINT], 63.0, {"total_U": 1.0}, "one dict"),
        ([[0.2, 0.5, 20.0]], 63.0, None, "shape"),
        ([], 63.0, None, "shape"),
        ([[0.2, 0.5, math.nan, 1.0]], 63.0, None, r"points\[0\].Q is not finite"),
        ([["a", 0.5, 20.0, 1.0]], 63.0, None, "must be numbers"),
        ([POINT], math.nan, None, "sqrt_s"),
    ],
)
def test_malformed_input_raises_value_error(scorer, points, sqrt_s, sigma, message):
    with pytest.raises(ValueError, match=message):
        scorer.score(points, sqrt_s, sigma)
