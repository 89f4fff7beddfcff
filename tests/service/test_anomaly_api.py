"""POST /v1/anomaly against the contract (api.md) and its calibrated threshold."""

from __future__ import annotations

import shutil

import pytest

from service import Settings
from tests.service.conftest import make_client

POINT = {"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}


@pytest.fixture
def exact_sigma(client):
    return client.post("/v1/exact", json={"points": [POINT]}).json()["results"][0]["sigma"]


def test_consistent_values_pass_and_wrong_ones_are_flagged(client, exact_sigma):
    points = [
        {**POINT, "sigma": {k: 1.05 * v for k, v in exact_sigma.items()}},
        {**POINT, "sigma": {"total_U": 3.0 * exact_sigma["total_U"]}},
        {**POINT, "sigma": {"oct3s1_U": exact_sigma["oct3s1_U"] / 1000}},  # nb given as pb
        {**POINT, "sigma": {"oct1s0_L": -exact_sigma["oct1s0_L"]}},
        POINT,
    ]
    r = client.post("/v1/anomaly", json={"points": points, "sqrt_s": 63.0})
    assert r.status_code == 200, r.text
    body = r.json()
    threshold = body["threshold"]
    assert 0.0 < threshold < 1.0
    results = body["results"]
    assert [res["is_anomaly"] for res in results] == [False, True, True, True, False]
    for res in results:
        assert 0.0 <= res["score"] <= 1.0
        assert res["is_anomaly"] == (res["score"] >= threshold)
    assert results[0]["reasons"] == []
    assert any("total_U" in reason for reason in results[1]["reasons"])
    assert results[1]["components"]["theory"] >= threshold


def test_unphysical_kinematics_score_one_with_the_physics_reason(client):
    r = client.post("/v1/anomaly", json={"points": [{"x": 0.01, "z": 0.5, "Q": 50.0, "PT": 1.0}]})
    (res,) = r.json()["results"]
    assert res["score"] == 1.0 and res["is_anomaly"]
    assert any("y = 63 > 1" in reason for reason in res["reasons"])


def test_kinematics_outside_the_training_domain_are_flagged(client):
    r = client.post("/v1/anomaly", json={"points": [{"x": 0.2, "z": 0.5, "Q": 3.0, "PT": 0.5}]})
    (res,) = r.json()["results"]
    assert res["is_anomaly"]
    assert res["components"]["outside_training_domain"] > 0


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"points": [{**POINT, "sigma": {"bogus": 1.0}}]}, ["body", "points", 0, "sigma"]),
        ({"points": [{**POINT, "sigma": {"total_U": "big"}}]}, ["body", "points", 0, "sigma"]),
        ({"points": [{"x": 0.2, "z": 0.5, "Q": 20.0}]}, ["body", "points", 0, "PT"]),
        ({"points": [POINT], "sqrt_s": -1}, ["body", "sqrt_s"]),
        ({"points": [POINT], "extra": 1}, ["body", "extra"]),
    ],
)
def test_schema_violations_are_422_naming_the_field(client, body, loc):
    r = client.post("/v1/anomaly", json=body)
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"][: len(loc)] == loc


def test_infinite_supplied_value_is_refused(client):
    raw = '{"points": [{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0, "sigma": {"total_U": Infinity}}]}'
    r = client.post("/v1/anomaly", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422


def test_missing_model_is_503_while_the_rest_keeps_working(artifact_dir):
    shutil.rmtree(artifact_dir / "anomaly")
    with make_client(Settings(artifact_dir=artifact_dir)) as c:
        r = c.post("/v1/anomaly", json={"points": [POINT]})
        assert r.status_code == 503
        assert "anomaly" in " ".join(r.json()["reasons"])
        assert c.get("/readyz").status_code == 503
        assert c.post("/v1/explain", json={"points": [POINT]}).status_code == 200
