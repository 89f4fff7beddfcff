"""Every fault x every endpoint: the service starts, says why it is not ready, answers 503
naming the fault where a request needs the broken part, and serves everything else.

The parts, and who needs them:

    surrogate  /v1/predict, /v1/explain (model=surrogate)
    explain    /v1/explain (either model)
    anomaly    /v1/anomaly
    pdf        /v1/exact, /v1/exact/binned, /v1/pdf (the default set, JPSI_PDF_SET); the
               surrogate, explanations and anomaly scores need NNPDF31_lo_as_0118 (the
               default): an unreadable grid of it breaks all four parts

/healthz, /v1/models and /metrics answer 200 whatever is broken.

An unreadable artifact directory: chmod 000 stops a non-root user, but tests may run as
root, which reads through any mode. As root the PermissionError is injected into
``Path.iterdir`` for that directory (what a non-root process gets); otherwise the real
chmod is used.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

import physics
from physics.pdf import find_pdf
from service import Settings
from tests.service.conftest import make_client, write_artifacts
from tests.service.server import get, start, stop

POINT = {"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}
PROBLEM_JSON = "application/problem+json"

# name -> (method, path, body, parts it needs)
ENDPOINTS: dict[str, tuple[str, str, dict | None, frozenset[str]]] = {
    "healthz": ("GET", "/healthz", None, frozenset()),
    "models": ("GET", "/v1/models", None, frozenset()),
    "metrics": ("GET", "/metrics", None, frozenset()),
    "exact": ("POST", "/v1/exact", {"points": [POINT]}, frozenset({"pdf"})),
    "binned": (
        "POST",
        "/v1/exact/binned",
        {"bins": [{"x": [0.1, 0.3], "z": [0.4, 0.8], "Q": [10.0, 20.0]}], "PT": [1.0]},
        frozenset({"pdf"}),
    ),
    "pdf": ("POST", "/v1/pdf", {"points": [{"x": 0.1, "Q": 10.0}]}, frozenset({"pdf"})),
    "predict": ("POST", "/v1/predict", {"points": [POINT]}, frozenset({"surrogate"})),
    "explain-surrogate": (
        "POST",
        "/v1/explain",
        {"points": [POINT], "model": "surrogate"},
        frozenset({"surrogate", "explain"}),
    ),
    "explain-exact": (
        "POST",
        "/v1/explain",
        {"points": [POINT], "model": "exact"},
        frozenset({"explain"}),
    ),
    "anomaly": ("POST", "/v1/anomaly", {"points": [POINT]}, frozenset({"anomaly"})),
}
ALL = frozenset({"surrogate", "explain", "anomaly", "pdf"})


def _tamper(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _resign(set_dir: Path, rel: str) -> None:
    """Make the manifest's sha256 of ``rel`` match the file again (a bad export, not tampering)."""
    from runtime.artifacts import sha256_file

    manifest = json.loads((set_dir / "manifest.json").read_text())
    manifest["files"][rel] = sha256_file(set_dir / rel)
    (set_dir / "manifest.json").write_text(json.dumps(manifest))


FAULTS: dict[str, tuple[Callable, frozenset[str], str]] = {}
"""name -> (setup, broken parts, a phrase the reasons must hold). ``setup(artifacts, tmp,
monkeypatch)`` breaks something and returns the Settings overrides it needs."""


def fault(name: str, broken: set[str] | frozenset[str], needle: str):
    def register(setup):
        FAULTS[name] = (setup, frozenset(broken), needle)
        return setup

    return register


@fault(
    "surrogate onnx missing", {"surrogate"}, "'surrogate.onnx' listed in the manifest is missing"
)
def _(art, tmp, mp):
    (art / "surrogate" / "surrogate.onnx").unlink()


@fault("surrogate onnx truncated", {"surrogate"}, "sha256 mismatch for 'surrogate.onnx'")
def _(art, tmp, mp):
    _truncate(art / "surrogate" / "surrogate.onnx")


@fault("surrogate onnx tampered", {"surrogate"}, "sha256 mismatch for 'surrogate.onnx'")
def _(art, tmp, mp):
    _tamper(art / "surrogate" / "surrogate.onnx")


@fault("surrogate onnx truncated, checksum re-signed", {"surrogate"},
       "onnxruntime cannot open 'surrogate.onnx'")  # fmt: skip
def _(art, tmp, mp):
    _truncate(art / "surrogate" / "surrogate.onnx")
    _resign(art / "surrogate", "surrogate.onnx")


@fault("explain background tampered", {"explain"}, "sha256 mismatch for 'background.npy'")
def _(art, tmp, mp):
    _tamper(art / "explain" / "background.npy")


@fault("explain set missing", {"explain"}, "artifact 'explain' not found")
def _(art, tmp, mp):
    shutil.rmtree(art / "explain")


@fault("anomaly onnx truncated", {"anomaly"}, "sha256 mismatch for 'isolation.onnx'")
def _(art, tmp, mp):
    _truncate(art / "anomaly" / "isolation.onnx")


@fault("anomaly manifest broken", {"anomaly"}, "cannot read manifest.json")
def _(art, tmp, mp):
    (art / "anomaly" / "manifest.json").write_text("{not json")


@fault("default PDF set not installed (JPSI_PDF_SET=NoSuchSet)", {"pdf", "explain", "anomaly"},
       "PDF set 'NoSuchSet' not found")  # fmt: skip
def _(art, tmp, mp):
    return {"pdf_set": "NoSuchSet"}


@fault("default PDF grid unreadable", ALL, f"{physics.DEFAULT_PDF_SET}_0000.dat: malformed")
def _(art, tmp, mp):
    # a truncated copy first on LHAPDF_DATA_PATH shadows the good grid
    d = tmp / "lhapdf" / physics.DEFAULT_PDF_SET
    d.mkdir(parents=True)
    good = find_pdf(physics.DEFAULT_PDF_SET)
    (d / good.name).write_bytes(good.read_bytes()[:3000])
    mp.setenv("LHAPDF_DATA_PATH", str(tmp / "lhapdf"))


@fault("artifact directory missing", ALL - {"pdf"}, "No such file or directory")
def _(art, tmp, mp):
    return {"artifact_dir": tmp / "nothing"}


@fault("artifact directory is a file", ALL - {"pdf"}, "Not a directory")
def _(art, tmp, mp):
    (tmp / "file").write_text("x")
    return {"artifact_dir": tmp / "file"}


@fault("artifact directory unreadable", ALL - {"pdf"}, "Permission denied")
def _(art, tmp, mp):
    if os.geteuid() != 0:
        art.chmod(0)
        return
    real = Path.iterdir

    def iterdir(self):
        if self == art:
            raise PermissionError(13, "Permission denied", str(art))
        return real(self)

    mp.setattr(Path, "iterdir", iterdir)


@pytest.fixture(scope="module", params=list(FAULTS), ids=list(FAULTS))
def faulty(request, tmp_path_factory):
    """(client, broken parts, needle) of a service started with one fault."""
    setup, broken, needle = FAULTS[request.param]
    tmp = tmp_path_factory.mktemp("fault")
    artifacts = write_artifacts(tmp / "artifacts")
    with pytest.MonkeyPatch.context() as mp:
        settings = Settings(**{"artifact_dir": artifacts, **(setup(artifacts, tmp, mp) or {})})
        with make_client(settings) as client:
            yield client, broken, needle
    artifacts.chmod(0o755)  # so that pytest can remove it


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_fault_answers(faulty, endpoint):
    client, broken, needle = faulty
    method, path, body, needs = ENDPOINTS[endpoint]
    r = client.request(method, path, json=body)
    if needs & broken:
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == PROBLEM_JSON
        problem = r.json()
        assert problem["status"] == 503 and problem["detail"]
        assert needle in " ".join(problem["reasons"]), problem
    else:
        assert r.status_code == 200, r.text
        if method == "POST":
            assert r.json()["results"]


def test_readiness_names_the_fault(faulty):
    client, _, needle = faulty
    r = client.get("/readyz")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "not ready" and needle in " ".join(body["reasons"]), body


def test_a_set_named_by_the_client_still_works_when_the_default_is_missing(artifact_dir):
    with make_client(Settings(artifact_dir=artifact_dir, pdf_set="NoSuchSet")) as c:
        theory = {"pdf_set": physics.DEFAULT_PDF_SET}
        r = c.post("/v1/exact", json={"points": [POINT], "theory": theory})
        assert r.status_code == 200 and r.json()["results"][0]["valid"]
        assert (
            c.post(
                "/v1/pdf",
                json={"pdf_set": physics.DEFAULT_PDF_SET, "points": [{"x": 0.1, "Q": 10.0}]},
            ).status_code
            == 200
        )
        # the client's own mistake is still the client's: 422, not 503
        r = c.post("/v1/exact", json={"points": [POINT], "theory": {"pdf_set": "Other"}})
        assert r.status_code == 422 and "unknown PDF set 'Other'" in r.text


def test_the_configured_set_is_the_default_of_requests(artifact_dir):
    other = "NNPDF31_lo_as_0130"  # shipped with pythia8mc, as the default is
    with make_client(Settings(artifact_dir=artifact_dir, pdf_set=other)) as c:
        assert c.get("/readyz").status_code == 200
        r = c.post("/v1/exact", json={"points": [POINT]})
        assert r.status_code == 200 and r.json()["theory"]["pdf_set"] == other
        r = c.post("/v1/pdf", json={"points": [{"x": 0.1, "Q": 10.0}]})
        assert r.status_code == 200 and r.json()["pdf_set"] == other


@pytest.mark.slow
def test_jpsi_serve_starts_with_faults_and_serves_what_it_can(tmp_path):
    """For real: an artifact path that is a file and a PDF set that is not installed."""
    (tmp_path / "file").write_text("x")
    env = {"JPSI_ARTIFACT_DIR": str(tmp_path / "file"), "JPSI_PDF_SET": "NoSuchSet",
           "JPSI_LOG_LEVEL": "warning"}  # fmt: skip
    # not ready, by design: any answer will do
    proc, port = start(env, timeout=60, accept=lambda status: True)
    base = f"http://127.0.0.1:{port}"
    try:
        status, body = get(base + "/readyz")
        reasons = " ".join(json.loads(body)["reasons"])
        assert status == 503 and "NoSuchSet" in reasons and "Not a directory" in reasons
        assert get(base + "/healthz")[0] == 200
        import urllib.request

        def post(path: str, payload: dict) -> tuple[int, dict]:
            req = urllib.request.Request(base + path, data=json.dumps(payload).encode(),
                                         headers={"content-type": "application/json"})  # fmt: skip
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())

        status, problem = post("/v1/exact", {"points": [POINT]})
        assert status == 503 and "NoSuchSet" in " ".join(problem["reasons"])
        status, problem = post("/v1/predict", {"points": [POINT]})
        assert status == 503 and "Not a directory" in " ".join(problem["reasons"])
        theory = {"pdf_set": physics.DEFAULT_PDF_SET}
        assert post("/v1/exact", {"points": [POINT], "theory": theory})[0] == 200
    finally:
        assert stop(proc) == 0
