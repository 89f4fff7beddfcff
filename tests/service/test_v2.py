"""Open Inference Protocol (V2) REST: routes, JSON and binary tensors (bit-identical to the
point format), the protocol's error shape for every bad request, and a standard client
(tritonclient[http], as shipped on PyPI) against a real jpsi-serve."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import physics
from service import Settings
from tests.service import server
from tests.service.conftest import make_client, surrogate_sigma, write_artifacts
from tests.service.test_exact import POINTS, columns

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # gevent's import-time warnings are not ours
    import tritonclient.http as triton
    from tritonclient.utils import InferenceServerException

COLS = dict(zip(("x", "z", "Q", "PT"), columns(POINTS), strict=True))


def tensors(cols=COLS, datatype="FP64") -> list[dict]:
    return [
        {"name": k, "shape": [len(v)], "datatype": datatype, "data": list(map(float, v))}
        for k, v in cols.items()
    ]


def binary_request(cols=COLS, outputs=None, parameters=None) -> tuple[bytes, dict]:
    inputs, blobs = [], []
    for k, v in cols.items():
        data = np.asarray(v, dtype="<f8").tobytes()
        inputs.append(
            {
                "name": k,
                "shape": [len(v)],
                "datatype": "FP64",
                "parameters": {"binary_data_size": len(data)},
            }
        )
        blobs.append(data)
    req: dict = {"inputs": inputs}
    if outputs is not None:
        req["outputs"] = outputs
    if parameters is not None:
        req["parameters"] = parameters
    header = json.dumps(req).encode()
    return header + b"".join(blobs), {"inference-header-content-length": str(len(header))}


def split_binary(r) -> dict[str, np.ndarray]:
    """Outputs of a binary response by name (BOOL as bool, FP64 as float)."""
    n = int(r.headers["inference-header-content-length"])
    head = json.loads(r.content[:n])
    out, offset = {}, n
    for t in head["outputs"]:
        if "data" in t:
            continue
        size = t["parameters"]["binary_data_size"]
        dtype = np.bool_ if t["datatype"] == "BOOL" else "<f8"
        out[t["name"]] = np.frombuffer(r.content[offset : offset + size], dtype=dtype)
        offset += size
    assert offset == len(r.content)
    return out


def v2_error(r, status: int = 400) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert list(body) == ["error"] and isinstance(body["error"], str)
    return body["error"]


def test_health_metadata_and_readiness(client):
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    meta = client.get("/v2").json()
    assert meta["extensions"] == ["binary_tensor_data"] and meta["name"] == "jpsi-sidis"
    for name in ("jpsi-exact", "jpsi-surrogate"):
        for path in (f"/v2/models/{name}", f"/v2/models/{name}/versions/1"):
            m = client.get(path).json()
            assert m["name"] == name and m["versions"] == ["1"]
            assert [(t["name"], t["datatype"]) for t in m["inputs"]] == [
                (k, "FP64") for k in ("x", "z", "Q", "PT")
            ]
            assert [t["name"] for t in m["outputs"]] == ["valid", "y", *physics.OUTPUTS]
            assert client.get(path + "/ready").json() == {"name": name, "ready": True}
    assert "unknown model" in v2_error(client.get("/v2/models/nope"), 404)
    assert "no version" in v2_error(client.get("/v2/models/jpsi-exact/versions/2/ready"), 404)


def test_surrogate_not_ready_without_its_artifact(tmp_path):
    root = write_artifacts(tmp_path / "a")
    (root / "surrogate" / "surrogate.onnx").write_bytes(b"broken")
    with make_client(Settings(artifact_dir=root)) as c:
        assert c.get("/v2/models/jpsi-surrogate/ready").status_code == 503
        assert c.get("/v2/models/jpsi-exact/ready").status_code == 200
        assert c.get("/v2/health/ready").json() == {"ready": False}
        r = c.post("/v2/models/jpsi-surrogate/infer", json={"inputs": tensors()})
        assert "surrogate" in v2_error(r, 503)


@pytest.mark.parametrize(
    "path", ["/v2/models/jpsi-exact/infer", "/v2/models/jpsi-exact/versions/1/infer"]
)
def test_json_infer_equals_the_point_format_bit_for_bit(client, path):
    ref = client.post("/v1/exact", json={"points": POINTS, "sqrt_s": 100.0}).json()
    r = client.post(path, json={"id": "r1", "inputs": tensors(), "parameters": {"sqrt_s": 100.0}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_name"] == "jpsi-exact" and body["id"] == "r1"
    out = {t["name"]: t for t in body["outputs"]}
    assert list(out) == ["valid", "y", *physics.OUTPUTS]
    assert out["valid"]["datatype"] == "BOOL" and out["y"]["shape"] == [len(POINTS)]
    for i, res in enumerate(ref["results"]):
        assert out["valid"]["data"][i] == res["valid"] and out["y"]["data"][i] == res["y"]
        for name in physics.OUTPUTS:
            assert out[name]["data"][i] == (res["sigma"][name] if res["valid"] else None)


def test_binary_infer_equals_the_point_format_bit_for_bit(client):
    ref = client.post("/v1/predict", json={"points": POINTS}).json()
    outputs = [{"name": n, "parameters": {"binary_data": True}} for n in ("valid", "total_L")]
    outputs.append({"name": "y"})  # this one in JSON
    body, headers = binary_request(outputs=outputs)
    r = client.post("/v2/models/jpsi-surrogate/infer", content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/octet-stream"
    out = split_binary(r)
    head = json.loads(r.content[: int(r.headers["inference-header-content-length"])])
    y = next(t for t in head["outputs"] if t["name"] == "y")["data"]
    for i, res in enumerate(ref["results"]):
        assert bool(out["valid"][i]) == res["valid"] and y[i] == res["y"]
        if res["valid"]:
            assert out["total_L"][i] == res["sigma"]["total_L"]
        else:
            assert np.isnan(out["total_L"][i])


def test_exact_theory_parameters(client):
    params = {"sqrt_s": 63.0, "quarks": "ud", "ldme.O3S1_8": 0.004}
    body, headers = binary_request(parameters={**params, "binary_data_output": True})
    r = client.post("/v2/models/jpsi-exact/infer", content=body, headers=headers)
    out = split_binary(r)
    ldme = physics.LDME(O3S1_8=0.004)
    cfg = physics.TheoryConfig(quarks="ud", ldme=ldme, pdf_set=physics.DEFAULT_PDF_SET)
    ev = physics.evaluate(*COLS.values(), sqrt_s=63.0, theory=cfg)
    np.testing.assert_array_equal(out["valid"], ev["valid"])
    np.testing.assert_array_equal(out["total_U"][ev["valid"]], ev["total_U"][ev["valid"]])


def _bad_binary(**change) -> tuple[bytes, dict]:
    body, headers = binary_request()
    header_length = int(headers["inference-header-content-length"])
    head = json.loads(body[:header_length])
    blobs = body[header_length:]
    if "size" in change:
        head["inputs"][0]["parameters"]["binary_data_size"] = change["size"]
    if "shape" in change:
        head["inputs"][0]["shape"] = change["shape"]
    header = json.dumps(head).encode()
    blobs = change.get("blobs", lambda b: b)(blobs)
    length = change.get("length", len(header))
    return header + blobs, {"inference-header-content-length": str(length)}


@pytest.mark.parametrize(
    ("make", "status", "words"),
    [
        (lambda: ({"inputs": tensors()[:3]}, None), 400, "input PT is missing"),
        (lambda: ({"inputs": [*tensors(), {**tensors()[0], "name": "w"}]}, None), 400, "'w'"),
        (lambda: ({"inputs": [*tensors(), tensors()[0]]}, None), 400, "x given twice"),
        (lambda: ({"inputs": tensors(datatype="FP32")}, None), 400, "datatype must be FP64"),
        (
            lambda: ({"inputs": [{**tensors()[0], "shape": [4]}, *tensors()[1:]]}, None),
            400,
            "shape [4] but data holds 5",
        ),
        (
            lambda: ({"inputs": [{**tensors()[0], "shape": [2, 3]}, *tensors()[1:]]}, None),
            400,
            "1-D",
        ),
        (
            lambda: (
                {"inputs": [*tensors()[:3], {**tensors()[3], "data": [1.0] * 4, "shape": [4]}]},
                None,
            ),
            400,
            "input PT has 4 elements but x has 5",
        ),
        (
            lambda: (
                {"inputs": [{**tensors()[0], "data": [0.1, "a", 0.1, 0.1, 0.1]}, *tensors()[1:]]},
                None,
            ),
            400,
            "numbers only",
        ),
        (
            lambda: ({"inputs": [{**tensors()[0], "shape": [10**12]}, *tensors()[1:]]}, None),
            413,
            "JPSI_MAX_ARROW_ROWS",
        ),
        (
            lambda: ({"inputs": tensors(), "outputs": [{"name": "bogus"}]}, None),
            400,
            "unknown output",
        ),
        (lambda: ({"inputs": tensors(), "parameters": {"sqrt_s": -1}}, None), 400, "sqrt_s"),
        (lambda: ({"inputs": tensors(), "parameters": {"sqrt_s": "x"}}, None), 400, "sqrt_s"),
        (lambda: ({"inputs": tensors(), "parameters": {"colour": 1}}, None), 400, "'colour'"),
        (
            lambda: ({"inputs": tensors(), "parameters": {"pdf_set": "NoSuchSet"}}, None),
            400,
            "NoSuchSet",
        ),
        (lambda: (None, b'{"inputs": ['), 400, "not valid JSON"),
        (lambda: (None, b"[]"), 400, "JSON object"),
        (lambda: _bad_binary(size=8), 400, "binary_data_size 8 is not 40"),
        (lambda: _bad_binary(shape=[6], size=48), 400, "only 160 bytes follow"),
        (lambda: _bad_binary(blobs=lambda b: b[:-8]), 400, "only 152 bytes follow"),
        (lambda: _bad_binary(blobs=lambda b: b + b"\0" * 8), 400, "8 bytes after"),
        (lambda: _bad_binary(length=10**9), 400, "says 1000000000 bytes"),
        (lambda: _bad_binary(length="abc"), 400, "whole number"),
        (
            lambda: _bad_binary(blobs=lambda b: np.full(5, np.nan).tobytes() + b[40:]),
            400,
            "x[0] = nan",
        ),
        (
            lambda: _bad_binary(blobs=lambda b: b[:120] + np.full(5, np.inf).tobytes()),
            400,
            "PT[0] = inf",
        ),
    ],
)
def test_bad_requests_get_the_protocol_error_naming_the_tensor(client, make, status, words):
    for model in ("jpsi-exact", "jpsi-surrogate"):
        request, raw = make()
        if model == "jpsi-surrogate" and "NoSuchSet" in words:
            words = "unknown parameter"
        path = f"/v2/models/{model}/infer"
        if isinstance(request, bytes):
            r = client.post(path, content=request, headers=raw)
        elif request is None:
            r = client.post(path, content=raw, headers={"content-type": "application/json"})
        else:
            r = client.post(path, json=request)
        assert words in v2_error(r, status)


def test_unknown_model_or_version_is_404_and_encoded_bodies_415(client):
    assert "unknown model" in v2_error(client.post("/v2/models/nope/infer", json={}), 404)
    r = client.post("/v2/models/jpsi-exact/versions/7/infer", json={"inputs": tensors()})
    assert "no version '7'" in v2_error(r, 404)
    r = client.post(
        "/v2/models/jpsi-exact/infer",
        content=b"x",
        headers={"content-encoding": "gzip", "content-type": "application/json"},
    )
    v2_error(r, 415)


def test_binary_bodies_have_the_bulk_byte_limit(artifact_dir):
    settings = Settings(artifact_dir=artifact_dir, max_body_bytes=1024, max_arrow_bytes=4096)
    big = {k: np.resize(v, 100) for k, v in COLS.items()}
    with make_client(settings) as c:
        body, headers = binary_request(big)
        assert 1024 < len(body) < 4096
        assert c.post("/v2/models/jpsi-exact/infer", content=body, headers=headers).is_success
        assert (
            c.post("/v2/models/jpsi-exact/infer", json={"inputs": tensors(big)}).status_code == 413
        )
        body, headers = binary_request({k: np.resize(v, 200) for k, v in COLS.items()})
        assert (
            c.post("/v2/models/jpsi-exact/infer", content=body, headers=headers).status_code == 413
        )


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = write_artifacts(tmp_path_factory.mktemp("v2") / "artifacts")
    log = root.parent / "serve.log"
    proc, port = server.start(env={"JPSI_ARTIFACT_DIR": str(root)}, log=log)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client = triton.InferenceServerClient(f"127.0.0.1:{port}")
        yield client
        client.close()
    finally:
        server.stop(proc)


def _inputs(binary: bool, cols=COLS) -> list:
    out = []
    for k, v in cols.items():
        t = triton.InferInput(k, [len(v)], "FP64")
        t.set_data_from_numpy(np.asarray(v, dtype=np.float64), binary_data=binary)
        out.append(t)
    return out


@pytest.mark.parametrize("binary", [False, True])
def test_tritonclient_against_a_real_server(served, binary):
    assert served.is_server_live() and served.is_server_ready()
    assert served.is_model_ready("jpsi-exact") and served.is_model_ready("jpsi-surrogate", "1")
    meta = served.get_model_metadata("jpsi-surrogate")
    assert [t["name"] for t in meta["inputs"]] == ["x", "z", "Q", "PT"]
    outputs = [
        triton.InferRequestedOutput(n, binary_data=binary) for n in ("valid", "y", "total_U")
    ]
    result = served.infer(
        "jpsi-exact", _inputs(binary), outputs=outputs, parameters={"sqrt_s": 63.0}
    )
    ev = physics.evaluate(*COLS.values(), sqrt_s=63.0)
    valid = ev["valid"]
    np.testing.assert_array_equal(result.as_numpy("valid"), valid)
    np.testing.assert_array_equal(result.as_numpy("y")[valid], ev["y"][valid])
    np.testing.assert_array_equal(result.as_numpy("total_U")[valid], ev["total_U"][valid])
    assert np.isnan(result.as_numpy("total_U")[~valid]).all()
    # no outputs named: all of them, binary (the client asks binary_data_output)
    result = served.infer("jpsi-surrogate", _inputs(binary), model_version="1")
    x, z, Q, PT = COLS.values()
    expected = surrogate_sigma(np.column_stack([np.full(x.size, 63.0), x, z, Q, PT]))
    for j, name in enumerate(physics.OUTPUTS):
        np.testing.assert_allclose(result.as_numpy(name)[valid], expected[valid, j], rtol=1e-12)


def test_tritonclient_sees_the_protocol_error(served):
    with pytest.raises(InferenceServerException) as info:
        served.infer("jpsi-exact", _inputs(True)[:3])
    assert info.value.status() == "400" and "input PT is missing" in info.value.message()
    bad = {**COLS, "Q": np.array([1.0, np.inf, 3.0, 4.0, 5.0])}
    with pytest.raises(InferenceServerException) as info:
        served.infer("jpsi-surrogate", _inputs(True, bad))
    assert "input Q[1] = inf is not a finite number" in info.value.message()
    with pytest.raises(InferenceServerException) as info:
        served.get_model_metadata("jpsi-nothing")
    assert info.value.status() == "404"
