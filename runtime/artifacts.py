"""Artifact sets on disk: one manifest schema, one sha256 verification, one atomic publish.

An artifact set is a subdirectory of the artifact directory holding a
``manifest.json``. Its ``files`` entry maps every other file of the set to its
sha256. Training writes a set into a hidden temporary sibling and renames it
into place (``write_set``), so a reader never sees a half-written set; the
service verifies every listed file once at start-up (``load_registry``) and a
set whose manifest names a ``model_file`` ending in ``.onnx`` gets an
onnxruntime session. Loading never raises for a bad set: it is recorded as
failed with the reason, and ``/readyz`` reports it.

Every manifest has ``COMMON_KEYS``; each kind adds its own (the surrogate's
contract is ``runtime.surrogate.io_spec``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import onnxruntime as ort

from runtime.onnx import session

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
COMMON_KEYS = (
    "name", "kind", "version", "created", "files", "library_versions", "seed",
    "training_command",
)  # fmt: skip
"""Keys every manifest has: identity, checksums, provenance (``training_command`` is the
command line that rebuilds the set with ``seed``)."""


class ArtifactError(RuntimeError):
    """An artifact set is missing, incomplete, corrupted or inconsistent with its manifest."""


@dataclass
class Artifact:
    """One artifact set: its manifest, verification status and (for models) the session."""

    name: str
    path: Path
    manifest: dict[str, Any] = field(default_factory=dict)
    loaded: bool = False
    reason: str | None = None
    session: ort.InferenceSession | None = None
    model_sha256: str | None = None

    @property
    def kind(self) -> str | None:
        return self.manifest.get("kind")

    def describe(self) -> dict[str, Any]:
        """The public view served by ``/v1/models``."""
        m = self.manifest

        def text(key: str) -> str | None:
            return None if m.get(key) is None else str(m[key])

        files: dict = m["files"] if isinstance(m.get("files"), dict) else {}
        return {
            "name": text("name") or self.name,
            "directory": self.name,
            "kind": text("kind"),
            "version": text("version"),
            "created": text("created"),
            "status": "loaded" if self.loaded else "failed",
            "reason": self.reason,
            "training_domain": m.get("training_domain"),
            "metrics": m.get("metrics"),
            "files": {str(k): str(v) for k, v in files.items()},
        }


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def checksums(directory: Path) -> dict[str, str]:
    """sha256 of every file in ``directory`` except the manifest, sorted by name."""
    return {
        p.name: sha256_file(p)
        for p in sorted(Path(directory).iterdir())
        if p.is_file() and p.name != MANIFEST
    }


def library_versions(libraries: Iterable[str]) -> dict[str, str]:
    """Python's version and each installed distribution's, for a manifest."""
    return {"python": platform.python_version(), **{d: metadata.version(d) for d in libraries}}


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


def write_set(
    target: Path,
    write: Callable[[Path], dict[str, Any]],
    check: Callable[[Path], object] | None = None,
) -> dict[str, Any]:
    """Write an artifact set atomically and return its manifest.

    ``write(staging)`` writes the set's files into ``staging`` (a hidden sibling of
    ``target``, which the service skips) and returns the manifest without ``files``; the
    checksums of everything it wrote are added, the manifest is checked for
    ``COMMON_KEYS`` and written, ``check(staging)`` may verify the result, and the
    directory is renamed into place. If anything raises, nothing is published.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-new-", dir=target.parent))
    try:
        manifest = write(staging)
        manifest["files"] = checksums(staging)
        missing = [k for k in COMMON_KEYS if k not in manifest]
        if missing:
            raise ArtifactError(f"manifest of {target.name!r} lacks {', '.join(missing)}")
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if check is not None:
            check(staging)
        publish(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _verify(directory: Path, manifest: dict[str, Any]) -> str | None:
    """Reason the set fails verification, or None when every listed file matches."""
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return "manifest has no 'files' map of sha256 checksums"
    for rel, expected in files.items():
        path = (directory / rel).resolve()
        if directory.resolve() not in path.parents:
            return f"file {rel!r} lies outside the artifact directory"
        if not path.is_file():
            return f"file {rel!r} listed in the manifest is missing"
        try:
            actual = sha256_file(path)
        except OSError as exc:
            return f"cannot read {rel!r}: {exc.strerror}"
        if not isinstance(expected, str) or actual != expected.lower():
            return f"sha256 mismatch for {rel!r}: manifest {expected}, file {actual}"
    model = manifest.get("model_file")
    if model is not None and model not in files:
        return f"model_file {model!r} has no checksum in the manifest"
    return None


def read_verified_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of an artifact set whose every listed file matches its sha256.

    Raises ``ValueError`` naming the first problem (for loaders that must not go on).
    """
    directory = Path(directory)
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{directory}: cannot read {MANIFEST}: {exc}") from exc
    if not isinstance(manifest, dict):
        raise ValueError(f"{directory}: {MANIFEST} is not a JSON object")
    reason = _verify(directory, manifest)
    if reason:
        raise ValueError(f"{directory}: {reason}")
    return manifest


def load_artifact(directory: Path, onnx_threads: int = 1) -> Artifact:
    """Read, verify and (for ONNX models) open one artifact set; never raises."""
    art = Artifact(name=directory.name, path=directory)
    try:
        art.manifest = json.loads((directory / MANIFEST).read_text())
        if not isinstance(art.manifest, dict):
            raise ValueError("manifest is not a JSON object")
    except (OSError, ValueError) as exc:
        art.reason = f"cannot read {MANIFEST}: {exc}"
        return art
    art.reason = _verify(directory, art.manifest)
    if art.reason:
        return art
    model = art.manifest.get("model_file")
    if isinstance(model, str) and model.endswith(".onnx"):
        try:
            art.session = session(directory / model, onnx_threads)
        except Exception as exc:  # onnxruntime raises its own exception types
            art.reason = f"onnxruntime cannot open {model!r}: {exc}"
            return art
        art.model_sha256 = art.manifest["files"][model].lower()
    art.loaded = True
    return art


@dataclass
class Registry:
    """Every artifact set found, plus those required but absent (and why, if the artifact
    directory itself could not be listed)."""

    artifacts: dict[str, Artifact]
    missing: list[str]
    error: str | None = None

    def problems(self) -> list[str]:
        """Why the service is not ready (empty when every artifact is loaded and verified)."""
        out = [self._not_found(name) for name in self.missing]
        out += [f"artifact {a.name!r}: {a.reason}" for a in self.artifacts.values() if not a.loaded]
        return out

    def _not_found(self, name: str) -> str:
        return f"artifact {name!r} not found" + (f" ({self.error})" if self.error else "")

    def reasons(self, name: str) -> list[str]:
        """Why artifact set ``name`` is not usable (empty when it is)."""
        art = self.artifacts.get(name)
        if art is None:
            return [self._not_found(name)]
        return [f"artifact {name!r}: {art.reason}"] if not art.loaded else []

    def get(self, name: str) -> Artifact | None:
        art = self.artifacts.get(name)
        return art if art is not None and art.loaded else None


def load_registry(root: Path, required=("surrogate",), onnx_threads: int = 1) -> Registry:
    """Scan ``root`` for artifact sets (subdirectories with a manifest) and load each.

    Hidden directories (e.g. a training run's ``.surrogate-new-*`` being written) are
    skipped; a set that cannot even be listed is recorded as failed, never raised.
    """
    found: dict[str, Artifact] = {}
    error = None
    try:
        subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as exc:  # missing, not a directory, no permission
        error = f"cannot list the artifact directory {str(root)!r}: {exc.strerror or exc}"
        log.warning("%s", error)
        subdirs = []
    for sub in subdirs:
        try:
            if not (sub / MANIFEST).is_file():
                continue
            art = load_artifact(sub, onnx_threads)
        except OSError as exc:
            art = Artifact(name=sub.name, path=sub, reason=f"cannot read the set: {exc}")
        found[sub.name] = art
        if art.loaded:
            version = art.manifest.get("version")
            log.info("artifact %s loaded (%s %s)", art.name, art.kind, version)
        else:
            log.warning("artifact %s failed: %s", art.name, art.reason)
    missing = [name for name in required if name not in found]
    for name in missing:
        log.warning("artifact %s not found under %s", name, root)
    return Registry(found, missing, error)
