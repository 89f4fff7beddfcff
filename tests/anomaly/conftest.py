"""Shared fixtures: the shipped anomaly artifacts and a --quick build into a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.anomaly import AnomalyScorer
from training.__main__ import main as jpsi_train

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture(scope="session")
def scorer() -> AnomalyScorer:
    """The scorer the service ships (artifacts/anomaly, built without --quick)."""
    return AnomalyScorer.from_artifacts(ARTIFACTS / "anomaly")


@pytest.fixture(scope="session")
def quick_build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("artifacts")
    assert jpsi_train(["explain", "--quick", "--out", str(out)]) == 0
    assert jpsi_train(["anomaly", "--quick", "--out", str(out)]) == 0
    return out
