"""Service logic apart from the routes: artifact verification and the training domain."""

from __future__ import annotations

import json

import numpy as np

from runtime.artifacts import load_artifact, load_registry, sha256_file
from runtime.domain import TrainingDomain
from runtime.surrogate import Surrogate
from tests.service.conftest import TRAINING_DOMAIN, write_surrogate


def test_a_verified_surrogate_loads_and_runs(tmp_path):
    d = write_surrogate(tmp_path)
    art = load_artifact(d)
    assert art.loaded and art.reason is None and art.session is not None
    assert art.model_sha256 == sha256_file(d / "surrogate.onnx")
    s = Surrogate(art)
    assert s.run(np.zeros((3, 5))).shape == (3, 10)


def test_files_outside_the_set_and_missing_checksums_are_refused(tmp_path):
    d = write_surrogate(tmp_path)
    manifest = json.loads((d / "manifest.json").read_text())
    manifest["files"]["../escape.txt"] = "0" * 64
    (d / "manifest.json").write_text(json.dumps(manifest))
    assert "outside the artifact directory" in load_artifact(d).reason
    manifest["files"] = {}
    (d / "manifest.json").write_text(json.dumps(manifest))
    assert "no 'files'" in load_artifact(d).reason


def test_registry_reports_required_sets_that_are_missing(tmp_path):
    reg = load_registry(tmp_path / "none", required=("surrogate", "anomaly"))
    assert reg.missing == ["surrogate", "anomaly"] and len(reg.problems()) == 2
    write_surrogate(tmp_path)
    reg = load_registry(tmp_path, required=("surrogate",))
    assert reg.problems() == [] and reg.get("surrogate") is not None


def test_training_domain_membership():
    dom = TrainingDomain.from_manifest(TRAINING_DOMAIN)
    s, x, z, Q, PT = (np.array(v) for v in zip(
        (63.0, 0.2, 0.5, 20.0, 1.0),  # inside
        (63.0, 0.2, 0.5, 20.0, 5.5),  # PT > z Q / 2
        (150.0, 0.2, 0.5, 20.0, 1.0),  # sqrt_s above 141
        (63.0, 0.2, 0.5, 4.0, 0.5),  # Q below 5
        (63.0, 0.0101, 0.5, 6.3, 0.5),  # y = 0.99 > 0.95
        strict=True,
    ))  # fmt: skip
    assert dom.contains_points(s, x, z, Q, PT).tolist() == [True, False, False, False, False]


def test_hidden_and_unreadable_sets(tmp_path, monkeypatch):
    import runtime.artifacts as artifacts

    write_surrogate(tmp_path)
    write_surrogate(tmp_path / ".surrogate-new-x")  # a training run's set being written
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "manifest.json").write_text("{}")
    real = artifacts.load_artifact

    def load(directory, threads=1):
        if directory.name == "locked":  # as a non-root user meets a mode-700 directory
            raise PermissionError(13, "Permission denied", str(directory / "manifest.json"))
        return real(directory, threads)

    monkeypatch.setattr(artifacts, "load_artifact", load)
    reg = load_registry(tmp_path)
    assert ".surrogate-new-x" not in reg.artifacts
    assert reg.get("surrogate") is not None
    assert "Permission denied" in reg.artifacts["locked"].reason
    assert any("locked" in p for p in reg.problems())


def test_every_artifact_file_is_hashed_once_at_start_up(monkeypatch):
    from collections import Counter

    from runtime import artifacts
    from service import Settings
    from tests.service.conftest import REPO_ARTIFACTS, make_client

    hashed: Counter = Counter()
    real = artifacts.sha256_file

    def counting(path, *args, **kwargs):
        hashed[str(path)] += 1
        return real(path, *args, **kwargs)

    monkeypatch.setattr(artifacts, "sha256_file", counting)
    with make_client(Settings(artifact_dir=REPO_ARTIFACTS)) as c:
        assert c.get("/readyz").status_code == 200
    listed = sum(
        len(json.loads((d / "manifest.json").read_text())["files"])
        for d in REPO_ARTIFACTS.iterdir()
        if (d / "manifest.json").is_file()
    )
    assert len(hashed) == listed and set(hashed.values()) == {1}
