"""The surrogate's artifact set as training checks it before publishing.

The format (manifest, checksums, atomic publish) is ``runtime.artifacts``; the
contract of the model's input and output is ``runtime.surrogate.io_spec``. This
adds what only training needs: the ONNX checker (the ``onnx`` package is not
part of the serving install) and the surrogate's required manifest keys.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx

from runtime.artifacts import COMMON_KEYS, MANIFEST, ArtifactError, checksums, sha256_file
from runtime.surrogate import io_spec

MODEL_FILE = "surrogate.onnx"
REQUIRED = (
    *COMMON_KEYS, "model_file", "input", "output", "training_domain", "target_transform",
    "theory", "metrics",
)  # fmt: skip


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
