"""Shapley explanations (service/explain.py): exactness on toys, additivity, the shap library."""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import physics
from runtime import shapley as ex
from training.anomaly_card import domain_points
from training.explain import explain_background

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def background():
    return explain_background()


def brute_force_shapley(f, x, background):
    """φ by the permutation definition, one scalar evaluation at a time (independent of the
    coalition-matrix code): φ_i = mean over orderings of v(pre ∪ i) − v(pre), with v(S) the
    mean over background rows of f at the hybrid, over rows where f is finite."""
    d = len(x)

    def v(S):
        vals = []
        for b in background:
            h = np.array([x[j] if j in S else b[j] for j in range(d)])
            val = f(h[None])[0]
            if np.isfinite(val):
                vals.append(val)
        return sum(vals) / len(vals)

    cache: dict = {}
    phi = np.zeros(d)
    perms = list(itertools.permutations(range(d)))
    for order in perms:
        pre: frozenset = frozenset()
        for i in order:
            for S in (pre, pre | {i}):
                if S not in cache:
                    cache[S] = v(S)
            phi[i] += cache[pre | {i}] - cache[pre]
            pre = pre | {i}
    return cache[frozenset()], phi / len(perms)


def test_kernel_weights_sum_to_one_per_feature():
    # Σ_{S ∌ i} |S|!(n−|S|−1)!/n! = 1: each feature's marginal contributions are averaged
    W = ex.shapley_kernel(4)
    assert np.allclose(np.where(W > 0, W, 0).sum(0), 1.0)
    assert np.allclose(W.sum(0), 0.0)
    assert ex.coalitions(4).shape == (16, 4)


def test_additive_model_gives_centred_components():
    # f = Σ g_i(x_i)  ⇒  φ_i = g_i(x_i) − mean_b g_i(b_i) exactly
    rng = np.random.default_rng(1)
    g = (np.sin, np.square, np.log1p, lambda t: np.exp(-t))
    B = rng.uniform(0.1, 2.0, (50, 4))
    X = rng.uniform(0.1, 2.0, (7, 4))

    def f(rows):
        return sum(gi(rows[:, i]) for i, gi in enumerate(g))

    base, phi, pred = ex.shapley_values(f, X, B)
    expected = np.column_stack([g[i](X[:, i]) - g[i](B[:, i]).mean() for i in range(4)])
    assert np.allclose(phi, expected, atol=1e-13, rtol=0)
    assert base == pytest.approx(f(B).mean(), abs=1e-13)
    assert np.allclose(pred, f(X), atol=0)


def test_product_model_matches_the_permutation_definition():
    rng = np.random.default_rng(2)
    B = rng.uniform(-1.0, 2.0, (12, 4))
    X = rng.uniform(-1.0, 2.0, (3, 4))

    def f(rows):
        return rows[:, 0] * rows[:, 1] * rows[:, 2] + rows[:, 3] ** 2 * rows[:, 0]

    base, phi, _ = ex.shapley_values(f, X, B)
    for x, row in zip(X, phi, strict=True):
        ref_base, ref_phi = brute_force_shapley(f, x, B)
        assert base == pytest.approx(ref_base, abs=1e-13)
        assert np.allclose(row, ref_phi, atol=1e-13, rtol=0)


def test_the_model_sees_bounded_chunks_with_the_same_result(monkeypatch):
    # memory of one explanation is bounded by CHUNK_ROWS, whatever the number of points
    rng = np.random.default_rng(4)
    B = rng.uniform(0.1, 2.0, (20, 4))
    X = rng.uniform(0.1, 2.0, (9, 4))  # 20 + 9 + 9 * 14 * 20 = 2549 rows
    sizes = []

    def f(rows):
        sizes.append(rows.shape[0])
        return rows[:, 0] * rows[:, 1] + np.sin(rows[:, 2]) * rows[:, 3]

    whole = ex.shapley_values(f, X, B)
    monkeypatch.setattr(ex, "CHUNK_ROWS", 100)
    sizes.clear()
    chunked = ex.shapley_values(f, X, B)
    assert max(sizes) == 100 and sum(sizes) == 2549
    assert chunked[0] == whole[0]
    assert np.array_equal(chunked[1], whole[1]) and np.array_equal(chunked[2], whole[2])


def test_undefined_hybrids_are_left_out_of_each_coalition_mean():
    # f undefined where x0 + x1 > 3 (a stand-in for y > 1): v(S) averages the defined hybrids
    rng = np.random.default_rng(3)
    B = rng.uniform(0.0, 2.0, (20, 4))
    X = np.array([[1.0, 1.2, 0.3, 0.7], [0.2, 0.4, 1.5, 1.9]])

    def f(rows):
        val = rows[:, 0] * rows[:, 1] + np.sin(rows[:, 2]) * rows[:, 3]
        return np.where(rows[:, 0] + rows[:, 1] > 3.0, np.nan, val)

    base, phi, pred = ex.shapley_values(f, X, B)
    for x, row in zip(X, phi, strict=True):
        ref_base, ref_phi = brute_force_shapley(f, x, B)
        assert base == pytest.approx(ref_base, abs=1e-13)
        assert np.allclose(row, ref_phi, atol=1e-13, rtol=0)
    assert np.allclose(base + phi.sum(1), pred, atol=1e-12)


def test_coalition_without_any_defined_hybrid_gives_nan_row():
    B = np.zeros((5, 4))
    X = np.array([[1.0, 1.0, 1.0, 1.0], [5.0, 1.0, 1.0, 1.0]])

    def f(rows):  # point 2 with x0 from the point and x1 from the background: never defined
        return np.where((rows[:, 0] > 2) & (rows[:, 1] < 0.5), np.nan, rows.sum(1))

    _, phi, pred = ex.shapley_values(f, X, B)
    assert np.isfinite(phi[0]).all() and np.isnan(phi[1]).all() and np.isfinite(pred[1])


@pytest.mark.parametrize("sqrt_s", [28.0, 63.0, 141.0])
def test_additivity_on_the_exact_model(background, sqrt_s):
    rng = np.random.default_rng(int(sqrt_s))
    X = domain_points(40, sqrt_s, rng)
    target = physics.OUTPUTS[int(sqrt_s) % len(physics.OUTPUTS)]
    base, phi, pred = ex.shapley_values(ex.exact_model(target, sqrt_s), X, background)
    ok = np.isfinite(phi).all(1)
    assert ok.mean() >= 0.95  # training-domain points are explainable
    assert np.abs(base + phi[ok].sum(1) - pred[ok]).max() <= 1e-6
    ev = physics.evaluate(*X.T, sqrt_s=sqrt_s)
    assert np.allclose(pred, np.log10(ev[target]), rtol=0, atol=1e-12)


def test_agrees_with_the_shap_library(background):
    # Reference: shap.explainers.Exact + maskers.Independent on the exact model. For each point
    # the background is restricted to rows whose 16 hybrids are all physical, where our game is
    # the textbook interventional one.
    sqrt_s, target = 100.0, "total_U"
    X = np.array([[0.3, 0.5, 30.0, 2.0], [0.05, 0.7, 10.0, 1.0], [0.02, 0.3, 6.0, 0.4]])
    subsets = []
    for x in X:
        H = np.where(ex.coalitions()[:, None, :], x, background[None])
        ok = ex.physical_mask(H.reshape(-1, 4), sqrt_s).reshape(16, -1).all(0)
        subsets.append(background[ok])
    request = {
        "points": X.tolist(),
        "background": [b.tolist() for b in subsets],
        "target": target,
        "sqrt_s": sqrt_s,
    }
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.explain.shap_reference"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
        check=True,
    )
    ref = json.loads(proc.stdout)
    f = ex.exact_model(target, sqrt_s)
    for i, (x, bg) in enumerate(zip(X, subsets, strict=True)):
        assert len(bg) >= 50
        base, phi, _ = ex.shapley_values(f, x[None], bg)
        assert base == pytest.approx(ref["base_values"][i], abs=1e-9)
        assert np.allclose(phi[0], ref["values"][i], atol=1e-9, rtol=0)


def test_explainer_response_shape_and_refusals(background):
    explainer = ex.Explainer(background)
    points = [[0.2, 0.5, 20.0, 1.0], [0.01, 0.5, 40.0, 1.0], [0.3, 0.5, 20.0, 0.0]]
    body = explainer.explain(points, target="total_U", model="exact", sqrt_s=63.0)
    assert body["space"] == "log10(sigma)" and body["target"] == "total_U"
    first, unphysical, _ = body["results"]
    assert first["valid"] and set(first["shap"]) == {"x", "z", "Q", "PT"}
    total = body["base_value"] + sum(first["shap"].values())
    assert abs(total - first["prediction"]) <= 1e-6
    assert not unphysical["valid"] and unphysical["shap"] is None
    assert any("y = " in e and "> 1" in e for e in unphysical["errors"])
    # sing3s1_L vanishes at P_T = 0: log10 undefined, answered in place
    zero = explainer.explain([[0.3, 0.5, 20.0, 0.0]], target="sing3s1_L")["results"][0]
    assert not zero["valid"] and "log10" in zero["errors"][0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"points": [[0.2, 0.5, 20.0, 1.0]], "target": "total_X"}, "unknown target"),
        ({"points": [[0.2, 0.5, 20.0, 1.0]], "model": "gbm"}, "unknown model"),
        ({"points": [[0.2, 0.5, 20.0, 1.0]], "model": "surrogate"}, "not loaded"),
        ({"points": [[0.2, 0.5, 20.0]]}, "shape"),
        ({"points": [[0.2, math.nan, 20.0, 1.0]]}, r"points\[0\].z is not finite"),
        ({"points": [[0.2, 0.5, 20.0, 1.0]] * 101}, "between 1 and 100"),
        ({"points": [[0.2, 0.5, 20.0, 1.0]], "sqrt_s": -1.0}, "sqrt_s"),
    ],
)
def test_malformed_requests_raise_value_error(background, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ex.Explainer(background).explain(**kwargs)


def _toy_surrogate_session():
    """An ONNX graph with the surrogate's contract: features [N, 5] → sigma = exp(features @ W)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    W = np.random.default_rng(4).normal(0.0, 0.1, (5, 10))
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["features", "W"], ["h"]),
            helper.make_node("Exp", ["h"], ["sigma"]),
        ],
        "toy",
        [helper.make_tensor_value_info("features", TensorProto.DOUBLE, [None, 5])],
        [helper.make_tensor_value_info("sigma", TensorProto.DOUBLE, [None, 10])],
        [numpy_helper.from_array(W, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]), W


def test_onnx_adapter_feeds_sqrt_s_first_and_masks_unphysical_rows(background):
    session, W = _toy_surrogate_session()
    f = ex.onnx_surrogate_model(session, "oct1s0_U", 63.0)
    rows = np.array([[0.2, 0.5, 20.0, 1.0], [0.01, 0.5, 40.0, 1.0]])  # second: y > 1
    feats = np.column_stack([np.full(2, 63.0), rows])
    expected = (feats @ W)[:, physics.OUTPUTS.index("oct1s0_U")] / math.log(10.0)
    got = f(rows)
    assert got[0] == pytest.approx(expected[0], abs=1e-12) and np.isnan(got[1])
    body = ex.Explainer(background, session=session).explain(rows[:1], "oct1s0_U", "surrogate")
    r = body["results"][0]
    assert r["valid"] and abs(body["base_value"] + sum(r["shap"].values()) - r["prediction"]) < 1e-9


SURROGATE = REPO / "artifacts" / "surrogate" / "surrogate.onnx"


@pytest.mark.skipif(not SURROGATE.exists(), reason="surrogate artifact not built yet")
def test_surrogate_explanations_track_the_exact_ones(background):
    import onnxruntime as ort

    session = ort.InferenceSession(str(SURROGATE), providers=["CPUExecutionProvider"])
    X = domain_points(20, 63.0, np.random.default_rng(5))
    exact = ex.shapley_values(ex.exact_model("total_U", 63.0), X, background)
    surr = ex.shapley_values(ex.onnx_surrogate_model(session, "total_U", 63.0), X, background)
    assert abs(exact[0] - surr[0]) < 0.05
    assert np.nanmax(np.abs(exact[1] - surr[1])) < 0.05


def test_point_without_physical_hybrids_is_answered_in_place(background):
    # physical, but x = 0.001 needs Q ≤ √(x s) = 4.5 GeV < every background Q: v({x}) undefined
    body = ex.Explainer(background).explain([[0.001, 0.5, 2.0, 0.3]], sqrt_s=141.0)
    (r,) = body["results"]
    assert (
        not r["valid"] and "{x}" in r["errors"][0] and "Shapley values undefined" in r["errors"][0]
    )
    assert body["base_value"] is not None
