"""POST /v1/exact/binned: equal to physics.binned; malformed bins refused naming the bin."""

from __future__ import annotations

import numpy as np

import physics
from service import Settings
from tests.service.conftest import make_client
from tests.service.test_exact import error_locs

BINS = [
    {"x": [0.1, 0.3], "z": [0.4, 0.9], "Q": [10.0, 30.0]},
    {"x": [0.9, 0.95], "z": [0.4, 0.9], "Q": [1.0, 2.0]},  # no physical part
]


def test_numbers_equal_the_engine(client):
    r = client.post("/v1/exact/binned", json={"bins": BINS, "PT": [0.5, 1.0], "sqrt_s": 63.0})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["units"] == "pb/GeV^2"
    ref = physics.binned(BINS, [0.5, 1.0], sqrt_s=63.0)
    for i, res in enumerate(body["results"]):
        assert res["bin"] == BINS[i]
        assert res["PT"] == [0.5, 1.0]
        assert res["physical"] == bool(ref.physical[i])
        assert list(res["sigma"]) == list(physics.OUTPUTS)
        for name in physics.OUTPUTS:
            np.testing.assert_array_equal(res["sigma"][name], ref.sigma[name][i])
    assert body["results"][1]["physical"] is False


def test_channels_subset(client):
    r = client.post(
        "/v1/exact/binned", json={"bins": BINS[:1], "PT": [1.0], "channels": ["total_U"]}
    )
    assert list(r.json()["results"][0]["sigma"]) == ["total_U"]


def test_malformed_bins_are_refused_naming_the_bin(client):
    bad = [BINS[0], {"x": [0.3, 0.1], "z": [0.4, 0.9], "Q": [10.0, 30.0]}]
    assert error_locs(client.post("/v1/exact/binned", json={"bins": bad, "PT": [1.0]})) == [
        ("body", "bins", 1)
    ]
    zero_z = [{"x": [0.1, 0.3], "z": [0.0, 0.9], "Q": [10.0, 30.0]}]
    # the schema itself says z > 0: the edge is named
    assert error_locs(client.post("/v1/exact/binned", json={"bins": zero_z, "PT": [1.0]})) == [
        ("body", "bins", 0, "z", 0)
    ]
    # PT = 0 (or tiny) with z reaching 1: the singlet integral diverges logarithmically
    to_one = [{"x": [0.1, 0.3], "z": [0.4, 1.0], "Q": [10.0, 30.0]}]
    for pt in (0.0, 1e-300):
        r = client.post("/v1/exact/binned", json={"bins": to_one, "PT": [pt]})
        assert error_locs(r) == [("body", "bins", 0)]
        assert "ln(M/PT)" in r.json()["detail"]
    assert ("body", "PT", 0) in error_locs(
        client.post("/v1/exact/binned", json={"bins": BINS, "PT": [-1.0]})
    )
    assert ("body", "bins", 0, "x", 1) in error_locs(
        client.post(
            "/v1/exact/binned",
            json={"bins": [{"x": [0.1], "z": [0.4, 0.9], "Q": [1, 2]}], "PT": [1.0]},
        )
    )


def test_limits_on_bins_and_pt_values(artifact_dir):
    with make_client(Settings(artifact_dir=artifact_dir, max_bins=1, max_pt_values=2)) as c:
        r = c.post("/v1/exact/binned", json={"bins": BINS, "PT": [1.0]})
        assert error_locs(r) == [("body", "bins", 1)]
        r = c.post("/v1/exact/binned", json={"bins": BINS[:1], "PT": [1.0, 2.0, 3.0]})
        assert error_locs(r) == [("body", "PT", 2)]


def test_empty_pdf_set_is_refused_not_echoed(client):
    """Regression: theory.pdf_set "" was computed with the default set but echoed as ""."""
    r = client.post(
        "/v1/exact/binned", json={"bins": BINS[:1], "PT": [1.0], "theory": {"pdf_set": ""}}
    )
    assert error_locs(r) == [("body", "theory", "pdf_set")]
    r = client.post(
        "/v1/exact",
        json={"points": [{"x": 0.2, "z": 0.5, "Q": 20, "PT": 1}], "theory": {"pdf_set": ""}},
    )
    assert error_locs(r) == [("body", "theory", "pdf_set")]
    r = client.post("/v1/pdf", json={"pdf_set": "", "points": [{"x": 0.1, "Q": 10.0}]})
    assert error_locs(r) == [("body", "pdf_set")]
