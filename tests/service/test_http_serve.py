"""service/http.py's limits against a real ``jpsi-serve`` on 127.0.0.1, over raw sockets: the
request head limit at its edge (one byte under it, at it, over it), sent in one write and in
pieces; and a flood of idle and half-sent connections past ``JPSI_MAX_CONNECTIONS``, through
which the probes are still answered and other requests get 503 problem+json.

Every loop is bounded in count and time; the outcomes do not depend on how the kernel cuts the
bytes into reads (tests/service/test_http.py feeds every cut in process).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import orjson
import pytest

from service import Settings
from tests.service.test_hostile import body_of, jpsi_serve, status_of

LIMIT = Settings().max_header_bytes  # the default, 65536: as in the report of issue 10
CONNECTIONS = 50


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[int]:
    root = tmp_path_factory.mktemp("http-server")
    # a head timeout longer than any test here: the flood stays open until the test closes it
    with jpsi_serve(
        root, max_connections=CONNECTIONS, header_timeout_seconds=60, log_level="error"
    ) as (port, _):
        yield port


def connection(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_to_close(s: socket.socket, limit: float = 10) -> bytes:
    """Everything the server sends until it closes (the socket's timeout bounds each read)."""
    out = b""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            data = s.recv(65536)
        except ConnectionResetError:  # closed with the rest of a refused request unread
            return out
        if not data:
            return out
        out += data
    raise AssertionError(f"connection still open after {limit} s")


def send(port: int, pieces: list[bytes], gap: float = 0.0) -> bytes:
    """Send ``pieces`` ``gap`` s apart (stopping if the server has closed); all it answered."""
    with connection(port) as s:
        for piece in pieces:
            try:
                s.sendall(piece)
            except OSError:
                break  # refused and closed before the rest was sent
            time.sleep(gap)
        return read_to_close(s)


def head(size: int, path: bytes = b"/healthz") -> bytes:
    """A GET head of exactly ``size`` bytes (the server closes after answering it)."""
    start = b"GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Pad: " % path
    return start + b"a" * (size - len(start) - 4) + b"\r\n\r\n"


def pieces(data: bytes) -> list[bytes]:
    """4 kB pieces, and the last five bytes one by one: the blank line arrives byte by byte."""
    body, tail = data[:-5], data[-5:]
    return [body[i : i + 4096] for i in range(0, len(body), 4096)] + [bytes([b]) for b in tail]


@pytest.mark.parametrize("size", [LIMIT - 1, LIMIT])
@pytest.mark.parametrize("how", ["one write", "in pieces"])
def test_a_head_of_the_limit_or_less_is_answered(server, size, how):
    data = head(size)
    raw = send(server, [data] if how == "one write" else pieces(data), gap=0.01)
    assert status_of(raw) == 200 and body_of(raw) == {"status": "ok"}


@pytest.mark.parametrize("size", [LIMIT + 1, 2 * LIMIT])
@pytest.mark.parametrize("how", ["one write", "in pieces"])
def test_a_head_over_the_limit_is_431(server, size, how):
    data = head(size)
    raw = send(server, [data] if how == "one write" else pieces(data), gap=0.01)
    assert status_of(raw) == 431
    assert body_of(raw)["detail"] == f"request line and headers over {LIMIT} bytes"


# a connection flood


def request(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    with connection(port) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        raw = read_to_close(s)
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return status_of(raw), headers, body


def test_probes_are_answered_through_a_flood_and_the_rest_get_503_problem_json(server):
    readyz = request(server, "/readyz")[0]
    assert request(server, "/v1/models")[0] == 200
    flood = []
    try:
        for i in range(CONNECTIONS + 10):  # half idle, half with a request begun
            flood.append(connection(server))
            if i % 2:
                flood[-1].sendall(b"GET /v1/models HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        # the server accepts in order: answering a later connection, it holds all of these
        status, headers, body = request(server, "/healthz")
        assert (status, orjson.loads(body)) == (200, {"status": "ok"})
        assert request(server, "/readyz")[0] == readyz
        assert request(server, "/metrics")[0] == 200
        status, headers, body = request(server, "/v1/models")
        assert status == 503 and headers["content-type"] == "application/problem+json"
        assert headers["retry-after"] == str(Settings().retry_after_seconds)
        assert headers["connection"] == "close"
        problem = orjson.loads(body)
        assert problem["status"] == 503 and problem["title"] == "Service Unavailable"
        assert f"more than the {CONNECTIONS} this worker takes" in problem["detail"]
    finally:
        for s in flood:
            s.close()
    # the server sees the closes soon after: bounded wait until it answers again
    deadline = time.monotonic() + 10
    while request(server, "/v1/models")[0] != 200:
        assert time.monotonic() < deadline, "still refused 10 s after the flood closed"
        time.sleep(0.1)
