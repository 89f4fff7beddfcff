"""Layering: jpsi_client imports nothing of the project; jpsi-score never imports the web
application (the surrogate comes from runtime/)."""

from __future__ import annotations

import subprocess
import sys

PROJECT = {
    "physics",
    "runtime",
    "service",
    "training",
    "scoring",
    "fastapi",
    "starlette",
    "onnxruntime",
    "dask",
    "distributed",
}


def loaded_after(code: str) -> set[str]:
    probe = code + "\nimport sys\nprint(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    return set(out) & PROJECT


def test_client_imports_only_its_own_dependencies():
    assert loaded_after("import jpsi_client; jpsi_client.Client('http://127.0.0.1:1')") == set()


def test_score_surrogate_in_process_does_not_import_the_web_app():
    code = (
        "import pyarrow as pa\n"
        "from scoring import Scorer\n"
        "s = Scorer(model='surrogate')\n"
        "s.score(pa.table({'x': [0.2], 'z': [0.5], 'Q': [20.0], 'PT': [1.0]}))\n"
    )
    loaded = loaded_after(code)
    assert {"runtime", "onnxruntime"} <= loaded
    assert not loaded & {"service", "fastapi", "starlette", "dask", "distributed"}
