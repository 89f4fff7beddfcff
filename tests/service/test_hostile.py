"""Hostile input beyond the schema: each gets a quick, bounded 4xx problem answer, never a 500.

In process: extreme numbers, deep nesting, long strings, duplicate keys, content types and
encodings, a million-element array. Against a real ``jpsi-serve`` on 127.0.0.1 with raw
sockets: bodies dribbled byte by byte, Content-Length that lies, slow and huge headers.
"""

from __future__ import annotations

import gzip
import math
import socket
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest

import physics
from service import Settings
from service import __main__ as cli
from service.routers.base import has_duplicate_keys, item_budget
from tests.service import server as real
from tests.service.conftest import make_client, write_artifacts

JSON = {"content-type": "application/json"}
POINT = {"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}


def post(client, path: str, body: bytes | str, headers: dict | None = None):
    start = time.perf_counter()
    r = client.post(path, content=body, headers=JSON if headers is None else headers)
    return r, time.perf_counter() - start


def assert_problem(r, status: int) -> dict:
    assert r.status_code == status, r.text[:500]
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status
    return body


def point_body(**fields: str) -> str:
    values = {k: str(v) for k, v in POINT.items()} | fields
    return '{"points": [{' + ", ".join(f'"{k}": {v}' for k, v in values.items()) + "}]}"


# numbers


@pytest.mark.parametrize("field", ["x", "z", "Q", "PT"])
@pytest.mark.parametrize("value", ["1e308", "-1e308", "5e-324", "-0.0"])
@pytest.mark.parametrize("path", ["/v1/exact", "/v1/predict"])
def test_extreme_finite_numbers_are_answered_in_place(client, path, field, value):
    r, _ = post(client, path, point_body(**{field: value}))
    assert r.status_code == 200
    (result,) = r.json()["results"]
    if result["valid"]:
        assert all(math.isfinite(v) for v in result["sigma"].values())
    else:
        assert result["sigma"] is None and result["errors"]


def test_minus_zero_is_zero(client):
    zero = client.post("/v1/exact", content=point_body(PT="0.0"), headers=JSON).json()
    minus = client.post("/v1/exact", content=point_body(PT="-0.0"), headers=JSON).json()
    assert minus["results"] == zero["results"] and zero["results"][0]["valid"]
    r = client.post("/v1/exact", content=point_body(x="-0.0"), headers=JSON)
    assert r.json()["results"][0]["errors"] == ["x = -0 not in (0, 1)"]


@pytest.mark.parametrize(
    "number", ["1e309", "-1e309", "1e99999999", "9" * 10_000, "-" + "9" * 10_000]
)
def test_numbers_beyond_double_precision_are_422(client, number):
    r, elapsed = post(client, "/v1/exact", point_body(Q=number))
    problem = assert_problem(r, 422)
    assert problem["errors"][0]["type"] == "json_invalid"
    assert "infinity" in problem["detail"]
    assert elapsed < 1.0


def test_a_ten_thousand_digit_integer_where_an_integer_belongs_is_422(client):
    body = '{"points": [{"x": 0.1, "Q": 10.0}], "flavours": [' + "2" * 10_000 + "]}"
    assert_problem(post(client, "/v1/pdf", body)[0], 422)


# nesting


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000,
        '{"points": ' + "[" * 100_000,
        '{"a": ' * 100_000,
        "[" * 100_000 + "]" * 100_000,
    ],
    ids=["arrays", "in-points", "objects", "closed"],
)
def test_deep_nesting_is_422_at_once(client, body):
    r, elapsed = post(client, "/v1/exact", body)
    problem = assert_problem(r, 422)
    assert "depth limit exceeded" in problem["detail"]
    assert elapsed < 1.0


def test_nesting_that_json_accepts_but_python_would_recurse_on_is_422(client):
    # 1000 levels: inside orjson's limit (1024), past Python's recursion limit
    body = '{"points": ' + "[" * 1000 + "]" * 1000 + ', "points2": 1, "points2": 2}'
    problem = assert_problem(post(client, "/v1/exact", body)[0], 422)
    assert problem["errors"][0]["type"] == "duplicate_key"
    body = '{"points": ' + "[" * 1000 + "]" * 1000 + "}"
    assert_problem(post(client, "/v1/exact", body)[0], 422)


# long strings


FIVE_MB = "a" * (5 * 1024 * 1024)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/exact", {"points": [POINT], "channels": [FIVE_MB]}),
        ("/v1/exact", {"points": [POINT], "theory": {"pdf_set": FIVE_MB}}),
        ("/v1/pdf", {"points": [{"x": 0.1, "Q": 10.0}], "pdf_set": FIVE_MB}),
        ("/v1/exact", {"points": [{**POINT, FIVE_MB: 1.0}]}),
        ("/v1/anomaly", {"points": [{**POINT, "sigma": {FIVE_MB: 1.0}}]}),
    ],
    ids=["channel", "theory.pdf_set", "pdf_set", "unknown-key", "sigma-key"],
)
def test_a_five_megabyte_string_is_refused_without_being_echoed(client, path, body):
    r, elapsed = post(client, path, orjson.dumps(body))
    assert_problem(r, 422)
    assert len(r.content) < 4096  # names the field, a long key cut to 64 characters
    assert elapsed < 2.0


# duplicate keys


@pytest.mark.parametrize(
    "body",
    [
        '{"points": [{"x": 0.2, "x": 0.3, "z": 0.5, "Q": 20.0, "PT": 1.0}]}',
        '{"points": [], "points": [{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}]}',
        '{"points": [{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}], "sqrt_s": 63, "sqrt_s": 100}',
        '{"points": [{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0}],'
        ' "theory": {"ldme": {"O3S1_8": 0.003, "O3S1_8": 1}}}',
        '{"points": [{"x": 0.2, "z": 0.5, "Q": 20.0, "PT": 1.0, "P\\u0054": 2.0}]}',
    ],
    ids=["in-point", "top-level", "sqrt_s", "ldme", "escaped"],
)
def test_an_object_that_repeats_a_key_is_422(client, body):
    problem = assert_problem(post(client, "/v1/exact", body)[0], 422)
    assert problem["errors"] == [
        {
            "loc": ["body"],
            "msg": "an object repeats a key; send each key once (none is picked silently)",
            "type": "duplicate_key",
        }
    ]


@pytest.mark.parametrize(
    ("text", "repeats"),
    [
        ('{"a": "x:y", "b": {"c": ":"}}', False),  # colons inside strings
        ('{"a:": 1, "a\\u003a": 2}', True),  # the same key, once escaped
        ('{"a": "\\u003a", "a": 1}', True),  # an escaped colon cannot mask a repeat
        ('{"a\\u003a": 1, "b": [":", {"c": "\\u003A"}]}', False),
        ('{"k": "\\"", "k2": "\\\\\\":"}', False),  # escaped quotes and backslashes
        ('[{"a": 1}, {"a": 1}]', False),  # the same key in different objects
        ("[" * 300 + '{"a": 1, "a": 2}' + "]" * 300, True),  # deeper than orjson.dumps goes
        ("[" * 300 + '{"a": 1, "b": 2}' + "]" * 300, False),
    ],
)
def test_duplicate_key_detection_is_exact(text, repeats):
    body = text.encode()
    assert has_duplicate_keys(body, orjson.loads(body)) is repeats


def test_duplicate_key_check_is_cheap_on_a_large_valid_body():
    points = [{"x": 0.01 * (i % 90 + 1), "z": 0.5, "Q": 20.0, "PT": 1.0} for i in range(10_000)]
    body = orjson.dumps({"points": points, "theory": {"pdf_set": "a:b"}})
    data = orjson.loads(body)
    start = time.perf_counter()
    for _ in range(10):
        assert not has_duplicate_keys(body, data)
    assert (time.perf_counter() - start) / 10 < 0.02  # ~2 ms measured for these 10 000 points


# media types and encodings


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        None,
        "application/json; charset=latin-1",
        "application/xml",
    ],
)
def test_a_body_that_is_not_json_is_415(client, content_type):
    headers = {"content-type": content_type} if content_type else {}
    r, _ = post(client, "/v1/exact", orjson.dumps({"points": [POINT]}), headers)
    problem = assert_problem(r, 415)
    assert "Content-Type must be application/json" in problem["detail"]
    assert (content_type or "none").split(";")[0] in problem["detail"]


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=UTF-8", "Application/JSON"]
)
def test_json_with_any_spelling_of_its_type_is_read(client, content_type):
    body = orjson.dumps({"points": [POINT]})
    assert post(client, "/v1/exact", body, {"content-type": content_type})[0].status_code == 200


def gzip_bomb() -> bytes:
    return gzip.compress(b"[" + b"0," * (16 * 1024 * 1024) + b"0]", 1)  # 32 MB of JSON in 150 kB


@pytest.mark.parametrize(
    ("encoding", "make_body"),
    [
        ("gzip", gzip_bomb),
        ("deflate", lambda: zlib.compress(orjson.dumps({"points": [POINT]}))),
        ("br", lambda: b"\x0b\x02\x80{}\x03"),
        ("gzip, br", gzip_bomb),
    ],
    ids=["gzip-bomb", "deflate", "br", "gzip-br"],
)
def test_a_compressed_body_is_415_and_never_decompressed(client, encoding, make_body):
    headers = {**JSON, "content-encoding": encoding}
    r, elapsed = post(client, "/v1/exact", make_body(), headers)
    problem = assert_problem(r, 415)
    assert repr(encoding) in problem["detail"]
    assert r.headers["accept-encoding"] == "identity"
    assert elapsed < 1.0


def test_identity_encoding_is_no_encoding(client):
    headers = {**JSON, "content-encoding": "identity"}
    body = orjson.dumps({"points": [POINT]})
    assert post(client, "/v1/exact", body, headers)[0].status_code == 200


# a million points


def test_a_million_points_are_413_before_reading(client):
    body = orjson.dumps({"points": [POINT] * 1_000_000})  # ~44 MB, over the 8 MiB limit
    r, elapsed = post(client, "/v1/exact", body)
    assert_problem(r, 413)
    assert r.headers["connection"] == "close"
    assert elapsed < 2.0


@pytest.mark.parametrize(
    "body",
    [
        b'{"points": [' + b"0," * 999_999 + b"0]}",  # 2 MB: under the byte limit
        b"[" + b"{}," * 2_700_000 + b"{}]",  # 8 MB of empty objects: ~300 MB once parsed
        b'{"points": [' + b"[]," * 2_700_000 + b"[]]}",
    ],
    ids=["zeros", "objects", "arrays"],
)
def test_a_million_values_are_422_without_parsing(settings, body):
    with make_client(settings) as c:
        tracemalloc.start()
        try:
            r, elapsed = post(c, "/v1/exact", body)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    problem = assert_problem(r, 422)
    assert problem["errors"][0]["type"] == "too_long"
    assert f"more than {item_budget(settings)} JSON values" in problem["detail"]
    assert elapsed < 2.0
    assert peak < 8 * len(body) + 32 * 1024 * 1024  # copies of the body, no parsed objects


def test_the_value_budget_admits_the_largest_valid_request(client):
    sigma = dict.fromkeys(physics.OUTPUTS, 1e-6)  # every one of the ten outputs
    points = [{**POINT, "sigma": sigma}] * Settings().max_points
    r, _ = post(client, "/v1/anomaly", orjson.dumps({"points": points, "sqrt_s": 63.0}))
    assert r.status_code == 200, r.text[:300]


# a real server, raw sockets


@contextmanager
def jpsi_serve(root: Path, **env: object) -> Iterator[tuple[int, Path]]:
    """``jpsi-serve`` with one worker on a free port; yields the port and its log file."""
    write_artifacts(root / "artifacts")
    variables = {"JPSI_ARTIFACT_DIR": str(root / "artifacts")}
    variables |= {f"JPSI_{k.upper()}": str(v) for k, v in env.items()}
    log = root / "server.log"
    proc, port = real.start(variables, ready="/healthz", timeout=60, log=log)
    try:
        yield port, log
    finally:
        real.stop(proc, timeout=30)


TIMEOUT = 1.0  # the body and header timeouts of the test server


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[int]:
    root = tmp_path_factory.mktemp("hostile-server")
    with jpsi_serve(
        root, body_timeout_seconds=TIMEOUT, header_timeout_seconds=TIMEOUT, log_level="warning"
    ) as (port, _):
        yield port


def exchange(port: int, first: bytes, dribble: bytes = b"", gap: float = 0.1, limit: float = 10):
    """Send ``first``, then ``dribble`` a byte every ``gap`` s; read until the server closes.
    Returns the seconds until the first byte of the answer, and everything read."""
    with socket.create_connection(("127.0.0.1", port), timeout=limit) as s:
        start = time.monotonic()
        s.sendall(first)
        answered = None
        out = b""
        s.setblocking(False)
        pending = list(dribble)
        while time.monotonic() - start < limit:
            try:
                data = s.recv(65536)
                if not data:
                    break  # closed by the server
                answered = answered or time.monotonic() - start
                out += data
            except BlockingIOError:
                if pending and answered is None:
                    try:
                        s.send(bytes([pending.pop(0)]))
                    except OSError:
                        pending = []
                time.sleep(gap if pending and answered is None else 0.01)
            except ConnectionResetError:
                break
        else:
            raise AssertionError(f"connection still open after {limit} s")
    return answered, out


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def body_of(raw: bytes) -> dict:
    return orjson.loads(raw.split(b"\r\n\r\n", 1)[1])


def request(body: bytes, length: int | None = None, path: str = "/v1/exact") -> bytes:
    length = len(body) if length is None else length
    head = f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    return head.encode() + b"Content-Length: %d\r\n\r\n" % length


BODY = orjson.dumps({"points": [POINT]})


def test_a_body_dribbled_byte_by_byte_is_cut_off_with_408(server):
    answered, raw = exchange(server, request(BODY) + BODY[:1], dribble=BODY[1:], gap=0.2)
    assert status_of(raw) == 408
    assert b"connection: close" in raw.lower() and b"x-request-id" in raw.lower()
    assert body_of(raw)["detail"] == f"request body not received within {TIMEOUT:g} s"
    assert TIMEOUT <= answered < TIMEOUT + 1.5


def test_a_content_length_longer_than_the_body_is_408(server):
    answered, raw = exchange(server, request(BODY, len(BODY) + 100) + BODY)
    assert status_of(raw) == 408
    assert TIMEOUT <= answered < TIMEOUT + 1.5


def test_a_content_length_shorter_than_the_body_is_refused_and_the_connection_closed(server):
    # the body read is cut short (invalid JSON), and the rest is no HTTP request: uvicorn's
    # plain 400 for the rest closes the connection, maybe before the 422 is written
    answered, raw = exchange(server, request(BODY, len(BODY) - 10) + BODY)
    assert status_of(raw) in (400, 422)
    assert answered < 1.0


def test_headers_dribbled_byte_by_byte_are_cut_off_with_408(server):
    head = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 100
    answered, raw = exchange(server, head[:5], dribble=head[5:], gap=0.2)
    assert status_of(raw) == 408
    assert body_of(raw)["detail"] == f"request headers not received within {TIMEOUT:g} s"
    assert TIMEOUT <= answered < TIMEOUT + 1.5


def test_a_connection_that_sends_nothing_is_closed(server):
    start = time.monotonic()
    _, raw = exchange(server, b"")
    assert raw == b"" and TIMEOUT <= time.monotonic() - start < TIMEOUT + 1.5


@pytest.mark.parametrize(
    "headers",
    [b"X-Big: " + b"a" * 1_000_000 + b"\r\n", b"".join(b"X-%d: a\r\n" % i for i in range(20_000))],
    ids=["one-huge", "many"],
)
def test_huge_request_heads_are_431(server, headers):
    answered, raw = exchange(server, b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + headers + b"\r\n")
    assert status_of(raw) == 431
    assert body_of(raw)["title"] == "Request Header Fields Too Large"
    assert answered < 1.0


def test_a_million_points_sent_chunked_are_413_once_past_the_limit(server):
    head = b"POST /v1/exact HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    chunk = orjson.dumps(POINT) + b","
    piece = b"%x\r\n%s\r\n" % (len(chunk) * 1000, chunk * 1000)  # 1000 points per chunk
    sent = 0
    with socket.create_connection(("127.0.0.1", server), timeout=10) as s:
        s.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n" + b'3\r\n{"p\r\n')
        try:
            for _ in range(1000):  # a million points, ~44 MB, unless the server stops us
                s.sendall(piece)
                sent += len(piece)
        except OSError:
            pass  # closed by the server after its answer
        raw = s.recv(65536)
    assert status_of(raw) == 413
    assert sent < 3 * Settings().max_body_bytes  # stopped near the limit, not at the end


def test_keep_alive_and_a_body_in_the_same_packet_as_the_head_still_work(server):
    # a 440 kB body arrives with the head: only the head counts against the head limit
    big = orjson.dumps({"points": [POINT] * 10_000})
    first = request(big, path="/v1/predict") + big
    second = b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    _, raw = exchange(server, first + second)
    assert raw.count(b"HTTP/1.1 200 OK") == 2


def test_jpsi_serve_sets_the_server_limits():
    options = cli.uvicorn_options(Settings(max_connections=300, keep_alive_seconds=7))
    assert options["http"] == "service.http:GuardedHttpToolsProtocol"
    # uvicorn's plain-text connection limit stays off: service/http.py enforces max_connections
    assert options["limit_concurrency"] is None and options["timeout_keep_alive"] == 7
    assert options["backlog"] == cli.BACKLOG and options["access_log"] is False
