"""POST /v1/predict and the artifact life cycle: checksums, readiness, the process staying up."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

import physics
from service import Settings
from tests.service.conftest import make_client, surrogate_sigma, write_surrogate
from tests.service.test_exact import POINTS, columns, error_locs


def test_predictions_come_from_the_onnx_model_on_valid_points(client):
    r = client.post("/v1/predict", json={"points": POINTS, "sqrt_s": 63.0})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["units"] == "pb/GeV^4"
    model = body["model"]
    assert model["name"] == "test-surrogate" and model["version"] == "0.0.1"
    assert len(model["sha256"]) == 64
    ev = physics.evaluate(*columns(POINTS), sqrt_s=63.0)
    x, z, Q, PT = columns(POINTS)
    expected = surrogate_sigma(np.column_stack([np.full(x.size, 63.0), x, z, Q, PT]))
    for i, res in enumerate(body["results"]):
        assert res["valid"] == bool(ev["valid"][i])
        if res["valid"]:
            assert res["y"] == ev["y"][i]
            for j, name in enumerate(physics.OUTPUTS):
                assert res["sigma"][name] == pytest.approx(expected[i, j], rel=1e-12)
        else:
            assert res["sigma"] is None
            assert res["errors"] == ev["reasons"][i]


def test_model_sha256_is_that_of_the_onnx_file(client, artifact_dir):
    onnx_file = artifact_dir / "surrogate" / "surrogate.onnx"
    digest = hashlib.sha256(onnx_file.read_bytes()).hexdigest()
    r = client.post("/v1/predict", json={"points": POINTS[:1]})
    assert r.json()["model"]["sha256"] == digest


@pytest.mark.parametrize(
    ("point", "sqrt_s", "outside"),
    [
        ({"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}, 63.0, False),
        ({"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}, 20.0, True),  # sqrt_s below 28
        ({"x": 0.2, "z": 0.95, "Q": 20.0, "PT": 1.0}, 63.0, True),  # z above 0.9
        ({"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 6.0}, 63.0, True),  # PT > z Q / 2
        ({"x": 0.02, "z": 0.5, "Q": 4.0, "PT": 0.5}, 63.0, True),  # Q below 5
        ({"x": 0.9, "z": 0.5, "Q": 10.0, "PT": 0.5}, 63.0, True),  # W = 3.5 GeV: unphysical
    ],
)
def test_outside_training_domain_flag(client, point, sqrt_s, outside):
    r = client.post("/v1/predict", json={"points": [point], "sqrt_s": sqrt_s})
    (res,) = r.json()["results"]
    if res["valid"]:
        assert ("outside_training_domain" in res["flags"]) == outside
    else:
        assert outside and res["flags"] == []


def test_theory_is_not_accepted(client):
    r = client.post("/v1/predict", json={"points": POINTS[:1], "theory": {"quarks": "ud"}})
    assert error_locs(r) == [("body", "theory")]


def test_predict_refuses_non_finite_and_too_many_points(artifact_dir):
    with make_client(Settings(artifact_dir=artifact_dir, max_points=2)) as c:
        assert error_locs(c.post("/v1/predict", json={"points": POINTS[:3]})) == [
            ("body", "points", 2)
        ]
        raw = b'{"points": [{"x": 0.2, "z": 0.5, "Q": -Infinity, "PT": 1.0}]}'
        assert error_locs(
            c.post("/v1/predict", content=raw, headers={"content-type": "application/json"})
        )


def test_ready_with_a_verified_artifact(client):
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ready", "reasons": []}
    models = client.get("/v1/models").json()
    by_kind = {a["kind"]: a for a in models["artifacts"]}
    assert set(by_kind) == {"surrogate", "explain-background", "anomaly"}
    assert all(a["status"] == "loaded" for a in models["artifacts"])
    art = by_kind["surrogate"]
    assert art["training_domain"]["PT_max_over_zQ"] == 0.5
    assert set(art["files"]) == {"surrogate.onnx"}
    assert physics.DEFAULT_PDF_SET in models["pdf_sets"]


def not_ready(c, *needles):
    r = c.get("/readyz")
    assert r.status_code == 503
    text = " ".join(r.json()["reasons"])
    for needle in needles:
        assert needle in text, text
    # the process is up and serves what does not need the artifact
    assert c.get("/healthz").status_code == 200
    assert c.post("/v1/exact", json={"points": POINTS[:1]}).status_code == 200
    p = c.post("/v1/predict", json={"points": POINTS[:1]})
    assert p.status_code == 503 and p.json()["reasons"]
    return r.json()["reasons"]


def test_missing_artifact_is_not_ready(tmp_path):
    with make_client(Settings(artifact_dir=tmp_path / "nothing")) as c:
        not_ready(c, "surrogate", "not found")
        assert c.get("/v1/models").json()["missing"] == ["surrogate", "explain", "anomaly"]


def test_checksum_mismatch_is_not_ready(artifact_dir):
    onnx_file = artifact_dir / "surrogate" / "surrogate.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes() + b"\0")
    with make_client(Settings(artifact_dir=artifact_dir)) as c:
        not_ready(c, "sha256 mismatch", "surrogate.onnx")
        (art,) = [a for a in c.get("/v1/models").json()["artifacts"] if a["kind"] == "surrogate"]
        assert art["status"] == "failed" and "sha256" in art["reason"]


def test_file_missing_from_the_set_is_not_ready(artifact_dir):
    (artifact_dir / "surrogate" / "surrogate.onnx").unlink()
    with make_client(Settings(artifact_dir=artifact_dir)) as c:
        not_ready(c, "missing")


def test_broken_manifest_is_not_ready(artifact_dir):
    (artifact_dir / "surrogate" / "manifest.json").write_text("{not json")
    with make_client(Settings(artifact_dir=artifact_dir)) as c:
        not_ready(c, "manifest")


def test_onnx_that_cannot_be_opened_is_not_ready(tmp_path):
    write_surrogate(tmp_path, onnx_bytes=b"not an onnx model")
    with make_client(Settings(artifact_dir=tmp_path)) as c:
        not_ready(c, "onnxruntime")


def test_wrong_interface_is_not_ready(artifact_dir):
    path = artifact_dir / "surrogate" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["output"]["columns"] = list(reversed(physics.OUTPUTS))
    path.write_text(json.dumps(manifest))
    with make_client(Settings(artifact_dir=artifact_dir)) as c:
        not_ready(c, "output columns")


def test_every_artifact_set_is_verified(artifact_dir):
    other = artifact_dir / "extra"
    other.mkdir()
    (other / "data.bin").write_bytes(b"abc")
    (other / "manifest.json").write_text(
        json.dumps({"name": "extra", "kind": "extra", "files": {"data.bin": "0" * 64}})
    )
    with make_client(Settings(artifact_dir=artifact_dir)) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and "extra" in " ".join(r.json()["reasons"])
        # the surrogate itself is fine and keeps serving
        assert c.post("/v1/predict", json={"points": POINTS[:1]}).status_code == 200
