"""The layers import one way, and the serving layers need only the base install.

    physics  <-  runtime  <-  service
                          <-  training        (service and training never import each other)

Read from the source with ``ast`` (every import statement, also inside functions), so a
lazy import cannot hide a wrong direction.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("physics", "runtime", "service", "training")
MAY_IMPORT = {
    "physics": set(),
    "runtime": {"physics"},
    "service": {"physics", "runtime"},
    "training": {"physics", "runtime"},
}
DISTRIBUTION_OF = {  # import name -> distribution, where they differ
    "onnxruntime": "onnxruntime",
    "prometheus_client": "prometheus-client",
    "pydantic_settings": "pydantic-settings",
    "starlette": "starlette",
    "uvicorn": "uvicorn",
    "httptools": "httptools",
    "anyio": "starlette",  # a dependency of Starlette, which the service uses directly
    "typing_extensions": "pydantic",  # a dependency of pydantic
    "pydantic_core": "pydantic",  # pydantic's own core (its errors: PydanticCustomError)
}


def imports(package: str) -> dict[str, set[str]]:
    """Top-level names imported by each module of ``package`` (file path -> names)."""
    out = {}
    for path in sorted((REPO / package).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        out[str(path.relative_to(REPO))] = names
    return out


@pytest.mark.parametrize("layer", LAYERS)
def test_layers_import_one_way(layer):
    forbidden = set(LAYERS) - MAY_IMPORT[layer] - {layer}
    wrong = {f: sorted(n & forbidden) for f, n in imports(layer).items() if n & forbidden}
    assert not wrong, f"{layer} may import only {sorted(MAY_IMPORT[layer])}: {wrong}"


def test_serving_layers_need_only_the_base_install():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    base = {
        d.split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip().lower()
        for d in project["dependencies"]
    }
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for layer in ("physics", "runtime", "service"):
        for path, names in imports(layer).items():
            third_party = names - stdlib - set(LAYERS)
            dists = {DISTRIBUTION_OF.get(n, n).lower() for n in third_party}
            assert dists <= base, f"{path} imports {sorted(dists - base)}, not in the base install"
