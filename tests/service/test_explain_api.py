"""POST /v1/explain against the contract (api.md) and the explainer it serves."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from runtime.shapley import Explainer
from service import Settings
from tests.service.conftest import REPO_ARTIFACTS, make_client

POINT = {"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}


def test_exact_explanations_add_up_and_equal_the_explainer(client):
    points = [
        POINT,
        {"x": 0.05, "z": 0.3, "Q": 8.0, "PT": 0.5},
        {"x": 0.5, "z": 0.8, "Q": 30.0, "PT": 2.0},
    ]
    r = client.post("/v1/explain", json={"points": points, "target": "oct3s1_U", "model": "exact"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["target"], body["model"], body["space"], body["sqrt_s"]) == (
        "oct3s1_U",
        "exact",
        "log10(sigma)",
        63.0,
    )
    direct = Explainer.from_artifacts(REPO_ARTIFACTS / "explain").explain(
        np.array([[p["x"], p["z"], p["Q"], p["PT"]] for p in points]), target="oct3s1_U"
    )
    assert body["base_value"] == pytest.approx(direct["base_value"], rel=1e-12)
    for got, want in zip(body["results"], direct["results"], strict=True):
        assert got["valid"] and got["errors"] == []
        total = body["base_value"] + sum(got["shap"].values())
        assert abs(total - got["prediction"]) <= 1e-6
        assert got["prediction"] == pytest.approx(want["prediction"], rel=1e-12)
        for name in ("x", "z", "Q", "PT"):
            assert got["shap"][name] == pytest.approx(want["shap"][name], rel=1e-9, abs=1e-12)


def test_prediction_is_log10_of_the_exact_cross_section(client):
    r = client.post("/v1/explain", json={"points": [POINT], "target": "total_L"})
    sigma = client.post("/v1/exact", json={"points": [POINT]}).json()["results"][0]["sigma"]
    assert r.json()["results"][0]["prediction"] == pytest.approx(
        np.log10(sigma["total_L"]), rel=1e-12
    )


def test_unphysical_points_are_answered_in_place(client):
    bad = {"x": 0.01, "z": 0.5, "Q": 50.0, "PT": 1.0}  # y = 63
    r = client.post("/v1/explain", json={"points": [POINT, bad]})
    assert r.status_code == 200
    first, second = r.json()["results"]
    assert first["valid"] and not second["valid"]
    assert second["shap"] is None and second["prediction"] is None
    assert any("y = 63 > 1" in e for e in second["errors"])


def test_surrogate_explanations_with_the_shipped_model():
    with make_client(Settings(artifact_dir=REPO_ARTIFACTS)) as c:
        exact = c.post("/v1/explain", json={"points": [POINT], "model": "exact"}).json()
        surr = c.post("/v1/explain", json={"points": [POINT], "model": "surrogate"}).json()
    s, e = surr["results"][0], exact["results"][0]
    assert s["valid"]
    assert abs(surr["base_value"] + sum(s["shap"].values()) - s["prediction"]) <= 1e-6
    # the surrogate is accurate to ~1e-4 relative: 1e-4 / ln 10 in log10
    assert s["prediction"] == pytest.approx(e["prediction"], abs=1e-3)
    for name in ("x", "z", "Q", "PT"):
        assert s["shap"][name] == pytest.approx(e["shap"][name], abs=1e-3)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"points": [POINT] * 101}, ["body", "points"]),
        ({"points": [POINT], "target": "sigma_total"}, ["body", "target"]),
        ({"points": [POINT], "model": "mlp"}, ["body", "model"]),
        ({"points": []}, ["body", "points"]),
        ({"points": [{**POINT, "x": "0.2"}]}, ["body", "points", 0, "x"]),
    ],
)
def test_schema_violations_are_422_naming_the_field(client, body, loc):
    r = client.post("/v1/explain", json=body)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["loc"][: len(loc)] == loc


def test_nan_is_refused(client):
    raw = '{"points": [{"x": NaN, "z": 0.5, "Q": 20.0, "PT": 1.0}]}'
    r = client.post("/v1/explain", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert "finite" in r.json()["errors"][0]["msg"]


def test_missing_background_is_503_while_exact_keeps_working(artifact_dir):
    shutil.rmtree(artifact_dir / "explain")
    with make_client(Settings(artifact_dir=artifact_dir)) as c:
        r = c.post("/v1/explain", json={"points": [POINT]})
        assert r.status_code == 503
        assert "explain" in " ".join(r.json()["reasons"])
        ready = c.get("/readyz")
        assert ready.status_code == 503
        assert c.post("/v1/exact", json={"points": [POINT]}).status_code == 200


def test_tampered_background_is_refused(artifact_dir):
    path = artifact_dir / "explain" / "background.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with make_client(Settings(artifact_dir=artifact_dir)) as c:
        r = c.post("/v1/explain", json={"points": [POINT]})
        assert r.status_code == 503
        assert "sha256" in " ".join(r.json()["reasons"])


@pytest.fixture(scope="module")
def shipped_client():
    with make_client(Settings(artifact_dir=REPO_ARTIFACTS)) as c:
        yield c


@pytest.mark.parametrize("model", ["surrogate", "exact"])
@pytest.mark.parametrize(
    "bad",
    [
        {"x": 1.0, "z": 0.5, "Q": 20.0, "PT": 1.0},
        {"x": 1.5, "z": 0.5, "Q": 20.0, "PT": 1.0},
        {"x": 0.0, "z": 0.5, "Q": 20.0, "PT": 1.0},
        {"x": -0.2, "z": 0.5, "Q": 20.0, "PT": 1.0},
        {"x": 0.2, "z": 0.5, "Q": 0.0, "PT": 1.0},
        {"x": 0.2, "z": 0.5, "Q": -5.0, "PT": 1.0},
    ],
)
def test_points_the_surrogate_graph_cannot_take_are_answered_in_place(shipped_client, model, bad):
    """Regression: x >= 1, x <= 0 or Q <= 0 reached the ONNX graph (a Gather index of -2^63)
    and the whole surrogate batch was lost with a 500."""
    good = [POINT] * 99
    r = shipped_client.post(
        "/v1/explain", json={"points": [*good, bad], "model": model, "target": "total_U"}
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == 100
    assert all(res["valid"] for res in results[:99])
    assert not results[99]["valid"] and results[99]["errors"]
    assert results[99]["shap"] is None
