"""The one door from jpsi-score to the model runtime (artifact verification, the surrogate).

Everything jpsi-score needs of the ONNX surrogate comes through this module, from the
``runtime`` layer (never the web application). The import is deferred to the first use:
scoring with the exact engine never loads onnxruntime.

Loaded once per process and kept (``load_surrogate`` is cached by directory): a Dask worker
process, or the jpsi-score process itself, opens one onnxruntime session however many
chunks it scores.
"""

from __future__ import annotations

import functools
from pathlib import Path

ARTIFACT_DIR = Path(__file__).resolve().parent.parent / "artifacts"
"""The artifact sets shipped with the repository (``surrogate/`` is the one used here)."""


@functools.lru_cache(maxsize=4)
def load_surrogate(directory: str | None = None):
    """The verified surrogate of artifact set ``directory`` (default: the shipped one),
    with one single-threaded onnxruntime session. ``ValueError`` says why it cannot load."""
    from runtime.artifacts import load_artifact
    from runtime.surrogate import Surrogate

    path = Path(directory) if directory else ARTIFACT_DIR / "surrogate"
    art = load_artifact(path, onnx_threads=1)
    if not art.loaded:
        raise ValueError(f"surrogate artifact {str(path)!r} cannot be used: {art.reason}")
    return Surrogate(art)


def training_flag() -> str:
    """The flag of valid points outside the surrogate's training domain."""
    from runtime.surrogate import FLAG_TRAINING

    return FLAG_TRAINING
