"""``training.artifacts.verify`` detects corrupted, missing or unlisted files."""

from __future__ import annotations

import json
import shutil

import pytest

from training.artifacts import MANIFEST, MODEL_FILE, ArtifactError, verify


@pytest.fixture
def copy(quick_run, tmp_path):
    _, out = quick_run
    target = tmp_path / "surrogate"
    shutil.copytree(out, target)
    return target


def test_intact_copy_verifies(copy):
    assert verify(copy)["name"] == "jpsi-surrogate"


def test_corrupted_onnx_is_detected(copy):
    data = bytearray((copy / MODEL_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / MODEL_FILE).write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="sha256 mismatch"):
        verify(copy)


def test_truncated_manifest_is_detected(copy):
    text = (copy / MANIFEST).read_text()
    (copy / MANIFEST).write_text(text[: len(text) // 2])
    with pytest.raises(ArtifactError, match="not readable JSON"):
        verify(copy)


def test_manifest_without_a_key_is_detected(copy):
    manifest = json.loads((copy / MANIFEST).read_text())
    del manifest["training_domain"]
    (copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="lacks training_domain"):
        verify(copy)


def test_tampered_checksum_is_detected(copy):
    manifest = json.loads((copy / MANIFEST).read_text())
    manifest["files"][MODEL_FILE] = "0" * 64
    (copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="sha256 mismatch"):
        verify(copy)


def test_missing_and_unlisted_files_are_detected(copy):
    (copy / "stray.bin").write_bytes(b"x")
    with pytest.raises(ArtifactError, match=r"not in the manifest: stray\.bin"):
        verify(copy)
    (copy / "stray.bin").unlink()
    (copy / "MODEL_CARD.md").unlink()
    with pytest.raises(ArtifactError, match="missing"):
        verify(copy)


def test_missing_directory_is_detected(tmp_path):
    with pytest.raises(ArtifactError, match="manifest is missing"):
        verify(tmp_path / "nowhere")
