"""Structured logs and request ids: the formatters, X-Request-ID in and out on every kind of
answer, the access line, and jpsi-serve writing JSON lines for uvicorn's loggers and ours."""

from __future__ import annotations

import json
import logging
import re
import sys
import urllib.request

import orjson
import pytest

from service import Settings, create_app
from service.logs import JsonFormatter, RequestIdFilter, TextFormatter, log_config
from tests.service.conftest import TestClient, make_client
from tests.service.test_exact import POINTS
from tests.service.test_hostile import jpsi_serve

HEX_ID = re.compile(r"[0-9a-f]{32}")


def record(message: str = "hello %s", *args, **extra) -> logging.LogRecord:
    rec = logging.LogRecord("service.x", logging.WARNING, __file__, 1, message, args, None)
    rec.__dict__.update(extra)
    return rec


def test_json_formatter_writes_one_object_per_line_with_the_fields():
    line = JsonFormatter().format(
        record("GET %s\nnext line", "/v1/x", request_id="r1", status=200, route="/v1/x")
    )
    assert "\n" not in line
    out = json.loads(line)
    assert out["level"] == "WARNING" and out["logger"] == "service.x"
    assert out["message"] == "GET /v1/x\nnext line"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", out["timestamp"])
    assert out["request_id"] == "r1" and out["status"] == 200 and out["route"] == "/v1/x"


def test_json_formatter_keeps_the_traceback_in_the_line():
    try:
        raise ValueError("boom")
    except ValueError:
        rec = record("failed")
        rec.exc_info = sys.exc_info()
    out = json.loads(JsonFormatter().format(rec))
    assert "ValueError: boom" in out["exception"] and "request_id" not in out


def test_text_formatter_names_the_request():
    assert TextFormatter().format(record("hi", request_id="r9")).endswith("hi [request_id=r9]")


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_log_config_is_a_valid_dict_config_for_uvicorn_and_the_service(fmt):
    config = log_config(Settings(log_format=fmt, log_level="debug"))
    assert {"uvicorn", "service"} <= set(config["loggers"])
    assert config["loggers"]["service"]["level"] == "DEBUG"
    assert config["disable_existing_loggers"] is False  # loggers made at import keep working
    formatter = logging.config.DictConfigurator(config).configure_formatter(
        dict(config["formatters"]["default"])
    )
    assert isinstance(formatter, JsonFormatter if fmt == "json" else TextFormatter)


def test_a_plain_request_id_is_echoed_and_others_replaced(client):
    plain = "abc-123.X:9_" + "z" * 116  # 128 characters, the most accepted
    assert client.get("/healthz", headers={"X-Request-ID": plain}).headers["x-request-id"] == plain
    for bad in (b"a" * 129, b"has space", b"<script>", b"", "é".encode(), b"a\x00b"):
        given = client.get("/healthz", headers={"X-Request-ID": bad})
        assert HEX_ID.fullmatch(given.headers["x-request-id"]), bad
    first, second = (client.get("/healthz").headers["x-request-id"] for _ in range(2))
    assert HEX_ID.fullmatch(first) and first != second


def test_every_kind_of_answer_carries_the_request_id(artifact_dir):
    key = {"X-API-Key": "k"}
    as_json = {**key, "content-type": "application/json"}
    answers = [  # status, method, path, headers, body
        (200, "GET", "/v1/models", key, None),
        (401, "GET", "/v1/models", {"X-API-Key": "wrong"}, None),
        (404, "GET", "/v1/nothing", key, None),
        (405, "GET", "/v1/exact", key, None),
        (413, "POST", "/v1/exact", as_json, b" " * 2048),
        (415, "POST", "/v1/exact", {**key, "content-type": "text/plain"}, b"{}"),
        (422, "POST", "/v1/exact", as_json, b"["),
        (500, "GET", "/v1/boom", key, None),
    ]
    settings = Settings(
        artifact_dir=artifact_dir,
        max_body_bytes=1024,
        api_key="k",
        rate_limit_per_second=0.01,
        rate_limit_burst=len(answers) - 1,  # every answer but the 401 takes a token
    )
    app = create_app(settings)

    @app.get("/v1/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    answers.append((429, "GET", "/v1/models", key, None))
    with TestClient(app, raise_server_exceptions=False) as c:
        for status, method, path, headers, body in answers:
            rid = f"id-{status}"
            r = c.request(method, path, content=body, headers={**headers, "X-Request-ID": rid})
            assert r.status_code == status, (status, r.text[:200])
            assert r.headers["x-request-id"] == rid, status


def test_the_error_log_of_a_500_names_the_request(artifact_dir, caplog):
    app = create_app(Settings(artifact_dir=artifact_dir))

    @app.get("/v1/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    stamp = RequestIdFilter()  # as on the handler of log_config
    caplog.handler.addFilter(stamp)
    try:
        with TestClient(app, raise_server_exceptions=False) as c, caplog.at_level(logging.ERROR):
            assert c.get("/v1/boom", headers={"X-Request-ID": "r-500"}).status_code == 500
    finally:
        caplog.handler.removeFilter(stamp)
    (rec,) = [r for r in caplog.records if r.name == "service.errors"]
    out = json.loads(JsonFormatter().format(rec))
    assert out["request_id"] == "r-500" and "RuntimeError: boom" in out["exception"]


def test_the_access_line_has_the_request_fields_and_never_the_body(artifact_dir, caplog):
    settings = Settings(artifact_dir=artifact_dir, access_log=True)
    body = {"pdf_set": "SECRET-MARKER-42", "points": [{"x": 0.1, "Q": 10.0}]}
    with make_client(settings) as c, caplog.at_level(logging.INFO, logger="service.access"):
        r = c.post("/v1/pdf", json=body, headers={"X-Request-ID": "trace-1"})
    assert r.status_code == 422  # an unknown PDF set
    lines = [JsonFormatter().format(rec) for rec in caplog.records if rec.name == "service.access"]
    (line,) = lines
    out = json.loads(line)
    assert out["request_id"] == "trace-1" and out["method"] == "POST"
    assert out["route"] == "/v1/pdf" and out["status"] == 422
    assert out["duration_ms"] > 0 and out["client"] == "testclient:50000"
    assert "SECRET-MARKER" not in caplog.text and "SECRET-MARKER" not in line


def test_access_lines_are_off_by_default(client, caplog):
    with caplog.at_level(logging.INFO, logger="service.access"):
        client.get("/healthz")
    assert not [r for r in caplog.records if r.name == "service.access"]


def test_jpsi_serve_writes_json_lines_for_uvicorn_and_the_service(tmp_path):
    with jpsi_serve(tmp_path, access_log="true", log_format="json") as (port, log):
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/exact",
            data=orjson.dumps({"points": POINTS[:1], "channels": ["BODY-MARKER"]}),
            headers={"content-type": "application/json", "X-Request-ID": "serve-1"},
        )
        try:
            urllib.request.urlopen(req, timeout=10)
        except urllib.error.HTTPError as e:
            assert e.code == 422 and e.headers["x-request-id"] == "serve-1"
    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is JSON
    assert {"uvicorn.error", "service.access"} <= {line["logger"] for line in lines}
    assert any("Uvicorn running on" in line["message"] for line in lines)
    (access,) = [line for line in lines if line.get("request_id") == "serve-1"]
    assert access["route"] == "/v1/exact" and access["status"] == 422
    assert access["client"].startswith("127.0.0.1:")
    assert "BODY-MARKER" not in text
