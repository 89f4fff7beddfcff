"""Operations: health, metrics, the body limit (declared and chunked), the API key, jpsi-serve."""

from __future__ import annotations

import os

import pytest

from service import Settings
from service import __main__ as cli
from service.metrics import MULTIPROC_ENV
from tests.service.conftest import make_client
from tests.service.test_exact import POINTS


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_metrics_count_requests_by_route_template_and_points(client):
    client.post("/v1/exact", json={"points": POINTS})
    client.post("/v1/predict", json={"points": POINTS[:2]})
    client.get("/no/such/path/123")
    text = client.get("/metrics").text
    assert 'jpsi_http_requests_total{method="POST",route="/v1/exact",status="200"} 1.0' in text
    assert (
        'jpsi_http_request_duration_seconds_bucket{le="0.5",method="POST",route="/v1/exact"}'
        in text
    )
    assert f'jpsi_points_evaluated_total{{endpoint="exact"}} {len(POINTS)}.0' in text
    assert 'jpsi_points_evaluated_total{endpoint="predict"} 2.0' in text
    assert 'route="unmatched",status="404"' in text
    assert "/no/such/path/123" not in text


def small_limit_client(artifact_dir):
    return make_client(Settings(artifact_dir=artifact_dir, max_body_bytes=1024))


def test_declared_body_over_the_limit_is_413(artifact_dir):
    with small_limit_client(artifact_dir) as c:
        r = c.post("/v1/exact", json={"points": POINTS * 20})
        assert r.status_code == 413
        assert r.json()["status"] == 413 and "1024" in r.json()["detail"]
        assert c.post("/v1/exact", json={"points": POINTS[:1]}).status_code == 200


def test_chunked_body_over_the_limit_is_413(artifact_dir):
    def chunks():
        yield b'{"points": ['
        for _ in range(100):
            yield b'{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0},'
        yield b'{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}]}'

    with small_limit_client(artifact_dir) as c:
        r = c.post("/v1/exact", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["title"] == "Content Too Large"
        json_type = {"content-type": "application/json"}
        with c.stream("POST", "/v1/exact", content=chunks(), headers=json_type) as s:  # no length
            assert "content-length" not in s.request.headers
            assert s.status_code == 413


def test_api_key(artifact_dir):
    with make_client(Settings(artifact_dir=artifact_dir, api_key="s3cret")) as c:
        body = {"points": POINTS[:1]}
        r = c.post("/v1/exact", json=body)
        assert r.status_code == 401 and r.json()["status"] == 401
        assert c.post("/v1/exact", json=body, headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.post("/v1/exact", json=body, headers={"X-API-Key": "s3cret"}).status_code == 200
        assert c.get("/healthz").status_code == 200  # probes stay open
        assert c.get("/readyz").status_code == 200
        assert c.get("/metrics").status_code == 401  # metrics are data too
        assert c.get("/metrics", headers={"X-API-Key": "s3cret"}).status_code == 200


def test_docs_and_openapi(client):
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/v1/exact", "/v1/exact/binned", "/v1/predict", "/v1/pdf", "/v1/models"} <= set(
        spec["paths"]
    )
    schemas = spec["components"]["schemas"]
    for name in ("ExactRequest", "PredictRequest", "BinnedRequest", "PdfRequest"):
        assert schemas[name].get("examples"), name


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("JPSI_PORT", "9123")
    monkeypatch.setenv("JPSI_MAX_POINTS", "7")
    s = Settings()
    assert s.port == 9123 and s.max_points == 7 and s.host == "127.0.0.1"
    assert s.artifact_dir.name == "artifacts" and s.max_body_bytes == 8 * 1024 * 1024


def test_jpsi_serve_flags_override_settings(monkeypatch):
    served = []
    monkeypatch.setattr(cli, "serve", served.append)
    for var in ("JPSI_HOST", "JPSI_PORT", "JPSI_WORKERS", MULTIPROC_ENV):
        monkeypatch.setenv(var, "")  # so that teardown restores the variables main() sets
        monkeypatch.delenv(var)
    monkeypatch.setenv("JPSI_PORT", "8100")
    cli.main(["--host", "0.0.0.0", "--workers", "2"])
    options = cli.uvicorn_options(served[0])
    assert options["host"] == "0.0.0.0" and options["port"] == 8100 and options["workers"] == 2
    assert MULTIPROC_ENV in os.environ  # several workers share their metrics


@pytest.mark.parametrize("method", ["get", "delete"])
def test_wrong_method_is_a_problem(client, method):
    r = getattr(client, method)("/v1/exact")
    assert r.status_code == 405 and r.json()["status"] == 405


def test_metric_labels_come_from_a_fixed_set(artifact_dir):
    """Regression: methods like PROPFIND, and requests refused for a missing key, each added
    label values, so anyone could grow /metrics without bound."""
    key = {"X-API-Key": "s3cret"}
    with make_client(Settings(artifact_dir=artifact_dir, api_key="s3cret")) as c:
        for i in range(40):
            c.request(f"PROP{i}", f"/v1/exact/{i}")
            c.request(f"MKCOL{i}", "/v1/exact", headers=key)
            c.get(f"/no/such/{i}")
            c.post("/v1/exact", json={"points": POINTS[:1]})  # no key: 401
        text = c.get("/metrics", headers=key).text
    samples = [ln for ln in text.splitlines() if ln.startswith("jpsi_http_requests_total{")]
    methods = {ln.split('method="')[1].split('"')[0] for ln in samples}
    routes = {ln.split('route="')[1].split('"')[0] for ln in samples}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert "other" in methods
    assert routes <= {"/v1/exact", "/metrics", "unmatched"}
    assert len(samples) <= 8
    assert 'route="/v1/exact",status="401"' in text


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/v1/models", "/v1/theory", "/metrics"])
def test_head_answers_like_get_without_a_body(client, path):
    get = client.get(path)
    head = client.head(path)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]


def padded_body(size: int) -> bytes:
    """A valid one-point /v1/exact body of exactly ``size`` bytes (trailing whitespace)."""
    core = b'{"points": [{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}]}'
    assert len(core) <= size
    return core + b" " * (size - len(core))


@pytest.mark.parametrize(("size", "status"), [(1023, 200), (1024, 200), (1025, 413)])
def test_body_limit_holds_at_its_edge(artifact_dir, size, status):
    json_type = {"content-type": "application/json"}
    with small_limit_client(artifact_dir) as c:
        declared = c.post("/v1/exact", content=padded_body(size), headers=json_type)
        assert declared.status_code == status, declared.text

        def chunks():  # no Content-Length: counted as it arrives
            body = padded_body(size)
            yield body[:100]
            yield body[100:]

        chunked = c.post("/v1/exact", content=chunks(), headers=json_type)
        assert chunked.status_code == status, chunked.text


@pytest.mark.parametrize(
    ("given", "status"),
    [("s3cret", 200), ("s3c", 401), ("s3cre", 401), ("s3cretX", 401), ("s3cret ", 401),
     ("S3CRET", 401), ("", 401)],
)  # fmt: skip
def test_api_key_must_match_exactly(artifact_dir, given, status):
    with make_client(Settings(artifact_dir=artifact_dir, api_key="s3cret")) as c:
        r = c.post("/v1/exact", json={"points": POINTS[:1]}, headers={"X-API-Key": given})
        assert r.status_code == status


def test_one_settings_instance_per_process(monkeypatch):
    """The app of a worker and its HTTP protocol read the same Settings object."""
    from service import http
    from service.settings import settings_from_env

    settings_from_env.cache_clear()
    monkeypatch.setenv("JPSI_MAX_HEADER_BYTES", "4096")
    try:
        app = cli.app_factory()
        assert app.state.settings is settings_from_env()
        assert http.settings_from_env() is app.state.settings
        assert app.state.settings.max_header_bytes == 4096
    finally:
        settings_from_env.cache_clear()
