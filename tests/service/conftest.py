"""Fixtures: settings on a temporary artifact directory holding a tiny ONNX surrogate.

The surrogate is a real ONNX graph (σ = features · W + b, float64) with a
real manifest and sha256 checksums, so the tests exercise the loading code.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import physics
from service import Settings, create_app

with warnings.catch_warnings():
    # starlette 1.x deprecates its httpx-based TestClient; httpx2 is not in the lock file
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

TRAINING_DOMAIN = {
    "sqrt_s": [28.0, 141.0],
    "Q": [5.0, 100.0],
    "z": [0.1, 0.9],
    "PT": [0.0, 10.0],
    "PT_max_over_zQ": 0.5,
    "y": [0.01, 0.95],
    "W_min": 4.038272,
}

# σ_j = Σ_i features_i W_ij + b_j: positive on the physical domain, distinct per column
W = np.arange(50, dtype=float).reshape(5, 10) * 1e-3 + 1e-4
B = np.linspace(1.0, 2.0, 10)


def linear_surrogate_onnx() -> bytes:
    x = helper.make_tensor_value_info("features", TensorProto.DOUBLE, [None, 5])
    y = helper.make_tensor_value_info("sigma", TensorProto.DOUBLE, [None, 10])
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["features", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["sigma"]),
        ],
        "linear_surrogate",
        [x],
        [y],
        initializer=[numpy_helper.from_array(W, "W"), numpy_helper.from_array(B, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def write_surrogate(root: Path, onnx_bytes: bytes | None = None) -> Path:
    d = root / "surrogate"
    d.mkdir(parents=True, exist_ok=True)
    data = onnx_bytes if onnx_bytes is not None else linear_surrogate_onnx()
    (d / "surrogate.onnx").write_bytes(data)
    manifest = {
        "name": "test-surrogate",
        "kind": "surrogate",
        "version": "0.0.1",
        "created": "2026-11-22T00:00:00Z",
        "model_file": "surrogate.onnx",
        "input": {
            "name": "features",
            "dtype": "float64",
            "features": [
                {"name": n, "unit": u}
                for n, u in zip(
                    ("sqrt_s", "x", "z", "Q", "PT"), ("GeV", "", "", "GeV", "GeV"), strict=True
                )
            ],
        },
        "output": {"name": "sigma", "columns": list(physics.OUTPUTS), "unit": "pb/GeV^4"},
        "training_domain": TRAINING_DOMAIN,
        "target_transform": "none",
        "theory": {"pdf_set": physics.DEFAULT_PDF_SET},
        "metrics": {"test_rel_err_p95": 0.0},
        "files": {"surrogate.onnx": hashlib.sha256(data).hexdigest()},
        "library_versions": {},
        "training_command": "pytest fixture",
        "seed": 0,
    }
    (d / "manifest.json").write_text(json.dumps(manifest))
    return d


def surrogate_sigma(features: np.ndarray) -> np.ndarray:
    return features @ W + B


REPO_ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def write_artifacts(root: Path) -> Path:
    """A tiny test surrogate plus copies of the shipped explanation and anomaly sets."""
    write_surrogate(root)
    for name in ("explain", "anomaly"):
        shutil.copytree(REPO_ARTIFACTS / name, root / name)
    return root


@pytest.fixture
def artifact_dir(tmp_path: Path) -> Path:
    return write_artifacts(tmp_path / "artifacts")


@pytest.fixture
def settings(artifact_dir: Path) -> Settings:
    return Settings(artifact_dir=artifact_dir)


@pytest.fixture
def client(settings: Settings):
    with TestClient(create_app(settings)) as c:
        yield c


def make_client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings))
