"""The documentation lives in the repository and the code's citations of it resolve.

- No file of the project points outside the repository (the specifications it
  was built from are restated in ``docs/``); ``.ci/`` belongs to the machinery
  that runs the project, not to it.
- Every section of ``docs/physics.md`` that a docstring or comment cites by name
  (``physics.md``, "The eight channels") exists as a heading there.
- Every relative link in ``docs/*.md`` and the README leads to a file that exists.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SKIP_DIRS = {".git", ".ci", ".venv", "node_modules", "__pycache__", ".pytest_cache", ".ruff_cache"}
TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".cfg", ".ini", ".yml", ".yaml", ".json", ".lock"}
TEXT_NAMES = {"Dockerfile", "Makefile", ".dockerignore", ".gitignore"}

# written in two pieces so that this file does not match itself
OUTSIDE = ("shared" + "/spec", ".." + "/shared")


def project_files() -> list[Path]:
    out = []
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT)
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts[:-1]):
            continue
        if path.is_file() and (path.suffix in TEXT_SUFFIXES or path.name in TEXT_NAMES):
            out.append(path)
    return out


def headings(markdown: str) -> set[str]:
    return {m.group(1).strip() for m in re.finditer(r"^#+\s+(.+)$", markdown, re.MULTILINE)}


# ``physics.md``, "A" and "B" / ``physics.md`` ("A", "B") / (physics.md, "A")
CITATION = re.compile(r'physics\.md`*\)?,?\s*\(?((?:"[^"\n]+"(?:,\s*|\s+and\s+)?)+)')


def cited_sections(text: str) -> list[str]:
    return [name for m in CITATION.finditer(text) for name in re.findall(r'"([^"]+)"', m.group(1))]


def test_the_walk_sees_the_code_and_the_docs():
    files = {p.relative_to(ROOT).as_posix() for p in project_files()}
    assert {"physics/channels.py", "docs/physics.md", "docs/api.md", "README.md"} <= files


def test_no_file_points_outside_the_repository():
    offenders = []
    for path in project_files():
        text = path.read_text(errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if any(marker in line for marker in OUTSIDE):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "files that point outside the repository:\n" + "\n".join(offenders)


def test_citations_of_physics_md_name_existing_sections():
    sections = headings((DOCS / "physics.md").read_text())
    cited = {}
    for path in project_files():
        if path.suffix == ".py" and path != Path(__file__).resolve():  # its examples are fake
            for name in cited_sections(path.read_text()):
                cited.setdefault(name, []).append(str(path.relative_to(ROOT)))
    assert "The eight channels" in cited  # the citations are found at all
    missing = {name: where for name, where in cited.items() if name not in sections}
    assert not missing, f"sections cited but not in docs/physics.md: {missing}"


def test_the_citation_pattern_reads_every_form():
    text = (
        '(``physics.md``, "The eight channels")\n'
        'See ``physics.md``, "Kinematic variables" and "Physical domain".\n'
        '``physics.md`` ("Constants", "Binned cross sections")\n'
        '# Σ_q e_q² f_q (physics.md, "Parton distributions")\n'
    )
    assert cited_sections(text) == [
        "The eight channels",
        "Kinematic variables",
        "Physical domain",
        "Constants",
        "Binned cross sections",
        "Parton distributions",
    ]


PAGES = sorted(["README.md", *(p.relative_to(ROOT).as_posix() for p in DOCS.glob("*.md"))])


@pytest.mark.parametrize("page", PAGES)
def test_relative_links_in_the_docs_resolve(page):
    path = ROOT / page
    targets = re.findall(r"\]\(([^)\s]+)\)", path.read_text())
    broken = [
        t
        for t in targets
        if not t.startswith(("http://", "https://", "#", "mailto:"))
        and not (path.parent / t.split("#")[0]).exists()
    ]
    assert not broken, f"{page}: links to missing files: {broken}"


@pytest.mark.parametrize("page", sorted(p.relative_to(ROOT).as_posix() for p in DOCS.glob("*.md")))
def test_files_the_docs_name_exist(page):
    """A path in backticks (``physics/binning.py``) in docs/ names a file of the repository."""
    text = (ROOT / page).read_text()
    paths = set(
        re.findall(r"`([A-Za-z_][\w.-]*(?:/[\w.-]+)+\.(?:py|md|json|onnx|npy|lock))`", text)
    )
    # bench/results/ holds what benchmarks write when run (git-ignored), not repository files
    missing = sorted(
        p for p in paths if not p.startswith("bench/results/") and not (ROOT / p).exists()
    )
    assert not missing, f"{page} names files that do not exist: {missing}"
