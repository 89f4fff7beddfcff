"""The builds of the explanation and anomaly sets (jpsi-train explain|anomaly --quick): files,
manifests, checksums."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from runtime.anomaly import AnomalyScorer
from runtime.domain import DOMAIN
from runtime.shapley import Explainer, load_background
from training import anomaly, explain, isolation
from training.builds import SEED


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_explain_artifacts(quick_build):
    d = quick_build / "explain"
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["kind"] == "explain-background" and manifest["columns"] == ["x", "z", "Q", "PT"]
    for key in ("name", "version", "created", "files", "training_domain", "seed"):
        assert key in manifest
    for name, digest in manifest["files"].items():
        assert sha256(d / name) == digest
    bg = np.load(d / "background.npy", allow_pickle=False)
    assert bg.dtype == np.float64 and bg.shape == (explain.BACKGROUND_SIZE, 4)
    # same seed, same rows; every row is a training-domain point at some beam energy in range
    assert np.array_equal(bg, explain.explain_background())
    ok = np.zeros(len(bg), dtype=bool)
    for s in np.linspace(*DOMAIN.sqrt_s, 200):
        ok |= DOMAIN.contains(np.column_stack([np.full(len(bg), s), bg]))
    assert ok.all()
    assert (d / "GLOBAL_SHAP.md").read_text().count(".png") >= 3


def test_anomaly_artifacts(quick_build):
    d = quick_build / "anomaly"
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["kind"] == "anomaly"
    keys = "name version created features training_domain thresholds calibration metrics files"
    for key in (*keys.split(), "library_versions", "seed", "training_command"):
        assert key in manifest
    assert manifest["metrics"]["onnx_sklearn_parity_max_abs"] <= isolation.PARITY_TOL
    assert manifest["metrics"]["clean_fpr"] <= anomaly.FPR_BOUND
    assert "| one_x1.5 |" in (d / "MODEL_CARD.md").read_text()
    assert AnomalyScorer.from_artifacts(d).threshold == 0.5


def test_isolation_model_is_reproducible(quick_build):
    model, X = isolation.fit_isolation(quick=True)
    blob, _ = isolation.export_isolation(model, X[:256])
    assert hashlib.sha256(blob).hexdigest() == sha256(quick_build / "anomaly" / "isolation.onnx")


def test_shipped_artifacts_are_reproducible():
    # the committed artifacts are what `python -m training.anomaly` builds from SEED
    shipped = Path(__file__).resolve().parents[2] / "artifacts"
    assert np.array_equal(
        np.load(shipped / "explain" / "background.npy"), explain.explain_background()
    )
    model, X = isolation.fit_isolation(quick=False)
    blob, _ = isolation.export_isolation(model, X[:256])
    assert hashlib.sha256(blob).hexdigest() == sha256(shipped / "anomaly" / "isolation.onnx")


@pytest.mark.parametrize("kind", ["explain", "anomaly"])
def test_tampered_artifacts_are_refused(quick_build, tmp_path, kind):
    d = tmp_path / kind
    shutil.copytree(quick_build / kind, d)
    victim = d / ("background.npy" if kind == "explain" else "isolation.onnx")
    victim.write_bytes(victim.read_bytes()[:-1] + b"\0")
    with pytest.raises(ValueError, match="sha256"):
        if kind == "explain":
            Explainer.from_artifacts(d)
        else:
            AnomalyScorer.from_artifacts(d)


def test_shipped_background_loads(quick_build):
    bg, manifest = load_background(quick_build / "explain")
    assert bg.shape[1] == 4 and manifest["seed"] == SEED


@pytest.mark.parametrize("name", ["explain", "anomaly"])
def test_every_manifest_has_the_common_keys(quick_build, name):
    from runtime.artifacts import COMMON_KEYS, read_verified_manifest

    manifest = read_verified_manifest(quick_build / name)
    assert set(COMMON_KEYS) <= set(manifest)
    assert manifest["training_command"].startswith(f"jpsi-train {name} --quick")
