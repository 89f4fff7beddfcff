"""Columnar JSON on /v1/exact, /v1/predict, /v1/anomaly: the same numbers as the point
format (bit for bit), errors and flags by row, and every refusal naming the column."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import physics
from service import Settings
from tests.service.conftest import make_client, surrogate_sigma
from tests.service.test_exact import POINTS, columns, error_locs

COLS = {k: [p[k] for p in POINTS] for k in ("x", "z", "Q", "PT")}


def by_row(body: dict, key: str) -> dict[int, list[str]]:
    return {item["row"]: item[key] for item in body[key]}


@pytest.mark.parametrize("path", ["/v1/exact", "/v1/predict"])
def test_columns_carry_the_numbers_of_the_point_format_bit_for_bit(client, path):
    points = client.post(path, json={"points": POINTS, "sqrt_s": 63.0}).json()
    r = client.post(path, json={"columns": COLS, "sqrt_s": 63.0})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["n"] == len(POINTS) and body["units"] == "pb/GeV^4" and body["sqrt_s"] == 63.0
    assert {k: v for k, v in body.items() if k in ("theory", "model")} == {
        k: v for k, v in points.items() if k in ("theory", "model")
    }
    cols = body["columns"]
    assert list(cols) == ["valid", "y", *physics.OUTPUTS]
    errors, flags = by_row(body, "errors"), by_row(body, "flags")
    for i, res in enumerate(points["results"]):
        assert cols["valid"][i] == res["valid"]
        assert cols["y"][i] == res["y"]
        for name in physics.OUTPUTS:
            assert cols[name][i] == (res["sigma"][name] if res["valid"] else None)
        assert errors.get(i, []) == res["errors"]
        assert flags.get(i, []) == res["flags"]


def test_exact_columns_equal_the_engine(client):
    body = client.post("/v1/exact", json={"columns": COLS, "channels": ["total_U"]}).json()
    ev = physics.evaluate(*columns(POINTS), sqrt_s=63.0)
    assert list(body["columns"]) == ["valid", "y", "total_U"]
    for i in range(len(POINTS)):
        assert body["columns"]["valid"][i] == bool(ev["valid"][i])
        if ev["valid"][i]:
            assert body["columns"]["total_U"][i] == ev["total_U"][i]
        else:
            assert by_row(body, "errors")[i] == ev["reasons"][i]
    assert 1 in by_row(body, "errors") and 2 in by_row(body, "flags")


def test_predict_columns_come_from_the_surrogate(client):
    body = client.post("/v1/predict", json={"columns": COLS}).json()
    x, z, Q, PT = columns(POINTS)
    expected = surrogate_sigma(np.column_stack([np.full(x.size, 63.0), x, z, Q, PT]))
    valid = body["columns"]["valid"]
    for j, name in enumerate(physics.OUTPUTS):
        got = [v for v, ok in zip(body["columns"][name], valid, strict=True) if ok]
        assert got == pytest.approx(expected[np.array(valid), j], rel=1e-12)


def test_anomaly_columns_equal_the_point_answers(client):
    sigma = [3.7e-6, None, None, None, 1e-3]
    points = [
        {**p, **({"sigma": {"total_U": s}} if s is not None else {})}
        for p, s in zip(POINTS, sigma, strict=True)
    ]
    ref = client.post("/v1/anomaly", json={"points": points}).json()
    r = client.post("/v1/anomaly", json={"columns": {**COLS, "sigma.total_U": sigma}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["threshold"] == ref["threshold"] and body["n"] == len(POINTS)
    reasons = by_row(body, "reasons")
    for i, res in enumerate(ref["results"]):
        assert body["columns"]["score"][i] == res["score"]
        assert body["columns"]["is_anomaly"][i] == res["is_anomaly"]
        for name, values in body["components"].items():
            assert values[i] == res["components"].get(name)
        assert reasons.get(i, []) == res["reasons"]
    assert body["components"]["theory"][0] is not None  # supplied for row 0 only
    assert body["components"]["theory"][2] is None


def test_accept_arrow_answers_a_json_request_with_a_stream(client):
    r = client.post(
        "/v1/exact",
        json={"columns": COLS, "channels": ["total_L"]},
        headers={"accept": "application/vnd.apache.arrow.stream"},
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.apache.arrow.stream"
    table = pa.ipc.open_stream(r.content).read_all()
    json_body = client.post("/v1/exact", json={"columns": COLS, "channels": ["total_L"]}).json()
    assert table.column("total_L").to_pylist() == json_body["columns"]["total_L"]


@pytest.mark.parametrize(
    ("payload", "loc", "words"),
    [
        ({"columns": {**COLS, "z": COLS["z"][:-1]}}, ("body", "columns"), "column z has 4"),
        ({"columns": {**COLS, "w": [1.0] * 5}}, ("body", "columns", "w"), "Extra inputs"),
        ({"columns": {k: COLS[k] for k in ("x", "z", "Q")}}, ("body", "columns", "PT"), ""),
        ({"columns": {**COLS, "Q": [1.0, "2", 3.0, 4.0, 5.0]}}, ("body", "columns", "Q", 1), ""),
        ({"columns": {**COLS, "x": [0.1, True, 0.1, 0.1, 0.1]}}, ("body", "columns", "x", 1), ""),
        ({"columns": {**COLS, "x": [0.1, None, 0.1, 0.1, 0.1]}}, ("body", "columns", "x", 1), ""),
        ({"columns": COLS, "points": POINTS}, ("body", "columns"), "not both"),
        ({"sqrt_s": 63.0}, ("body", "points"), "or columns"),
        ({"columns": [1, 2]}, ("body", "columns"), ""),
    ],
)
def test_bad_columns_are_refused_whole_naming_the_column(client, payload, loc, words):
    for path in ("/v1/exact", "/v1/predict"):
        r = client.post(path, json=payload)
        assert loc in error_locs(r), r.text
        assert words in r.text


def test_non_finite_numbers_in_a_column_are_refused(client):
    raw = b'{"columns": {"x": [0.2, NaN], "z": [0.5, 0.5], "Q": [20.0, 20.0], "PT": [1.0, 1.0]}}'
    r = client.post("/v1/exact", content=raw, headers={"content-type": "application/json"})
    error_locs(r)
    assert "not JSON numbers" in r.text


def test_anomaly_refuses_unknown_sigma_columns_and_empty_columns(client):
    r = client.post("/v1/anomaly", json={"columns": {**COLS, "sigma.bogus": [1.0] * 5}})
    assert ("body", "columns") in error_locs(r) and "sigma.bogus" in r.text
    r = client.post("/v1/anomaly", json={"columns": {k: [] for k in COLS}})
    assert ("body", "columns", "x") in error_locs(r) and "at least 1" in r.text


def test_rows_over_the_limit_are_refused_before_validation(artifact_dir):
    with make_client(Settings(artifact_dir=artifact_dir, max_points=3)) as c:
        r = c.post("/v1/exact", json={"columns": COLS})
        assert ("body", "columns", "x") in error_locs(r)
        assert "at most 3" in r.text
        assert c.post("/v1/exact", json={"columns": {k: v[:3] for k, v in COLS.items()}}).is_success


def test_uncertainty_bands_are_for_points_only(client):
    r = client.post("/v1/exact", json={"columns": COLS, "uncertainty": {"scales": "3-point"}})
    assert ("body", "uncertainty") in error_locs(r)
    assert "points" in r.json()["detail"]
