"""Artifact sets on disk: the manifest, sha256 checksums, atomic writes, verification.

An artifact directory holds the ONNX model, ``manifest.json`` and every
other file the manifest lists under ``files`` (name → sha256 hex). Sets are
written to a temporary sibling directory and renamed into place, so a reader
never sees a half-written set. ``verify(dir)`` re-checks a set and raises
``ArtifactError`` naming the first problem it finds.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import onnx

from physics import OUTPUTS
from runtime.domain import FEATURE_UNITS, FEATURES
from training.onnx_graph import INPUT, OUTPUT

MANIFEST = "manifest.json"
MODEL_FILE = "surrogate.onnx"
REQUIRED = (
    "name", "kind", "version", "created", "model_file", "input", "output", "training_domain",
    "target_transform", "theory", "metrics", "files", "library_versions", "training_command",
    "seed",
)  # fmt: skip


class ArtifactError(RuntimeError):
    """An artifact set is missing, incomplete, corrupted or inconsistent with its manifest."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def io_spec() -> tuple[dict, dict]:
    """The manifest's ``input`` and ``output`` entries (the service's contract)."""
    features = [{"name": n, "unit": FEATURE_UNITS[n]} for n in FEATURES]
    return (
        {"name": INPUT, "dtype": "float64", "features": features},
        {"name": OUTPUT, "dtype": "float64", "columns": list(OUTPUTS), "unit": "pb/GeV^4"},
    )


def checksums(directory: Path) -> dict[str, str]:
    """sha256 of every file in ``directory`` except the manifest, sorted by name."""
    return {
        p.name: sha256_file(p)
        for p in sorted(Path(directory).iterdir())
        if p.is_file() and p.name != MANIFEST
    }


def publish(staging: Path, target: Path) -> None:
    """Replace ``target`` by the fully written ``staging`` directory (rename, then clean up)."""
    target = Path(target)
    Path(staging).chmod(0o755)  # mkdtemp makes it private; the service runs as another user
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
        target.rename(old / target.name)
    Path(staging).rename(target)
    if old is not None:
        shutil.rmtree(old)


def verify(directory) -> dict:
    """Check an artifact set; return its manifest or raise ``ArtifactError`` saying what is wrong.

    Checks: the manifest parses and has every required key; every file it lists
    exists with the listed sha256 and no other file is present; the model is a
    valid ONNX graph whose input and output match the manifest's contract.
    """
    directory = Path(directory)
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path}: manifest is missing") from exc
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path}: manifest is not readable JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{path}: manifest is not a JSON object")
    missing = [k for k in REQUIRED if k not in manifest]
    if missing:
        raise ArtifactError(f"{path}: manifest lacks {', '.join(missing)}")
    files = manifest["files"]
    if not isinstance(files, dict) or manifest["model_file"] not in files:
        raise ArtifactError(f"{path}: 'files' must list the model file {manifest['model_file']!r}")
    for name, expected in files.items():
        f = directory / name
        if Path(name).name != name or not f.is_file():
            raise ArtifactError(f"{directory}: file {name!r} listed in the manifest is missing")
        actual = sha256_file(f)
        if actual != expected:
            raise ArtifactError(
                f"{f}: sha256 mismatch (manifest {expected}, file {actual}): corrupted or replaced"
            )
    extra = sorted(set(checksums(directory)) - set(files))
    if extra:
        raise ArtifactError(f"{directory}: files not in the manifest: {', '.join(extra)}")
    model_path = directory / manifest["model_file"]
    try:
        model = onnx.load(str(model_path))
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises several unrelated types for bad files
        raise ArtifactError(f"{model_path}: not a valid ONNX model ({exc})") from exc
    expected_in, expected_out = io_spec()
    graph_in = [(i.name, len(i.type.tensor_type.shape.dim)) for i in model.graph.input]
    graph_out = [o.name for o in model.graph.output]
    if graph_in != [(expected_in["name"], 2)] or graph_out != [expected_out["name"]]:
        raise ArtifactError(
            f"{model_path}: inputs {graph_in} / outputs {graph_out} break the contract"
        )
    if manifest["input"] != expected_in or manifest["output"] != expected_out:
        raise ArtifactError(f"{path}: input/output description differs from the model's contract")
    return manifest
