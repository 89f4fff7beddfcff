"""service/http.py in process: the protocol fed bytes through a stand-in transport, so each limit
is checked at its edge (one byte under it, at it, over it) and for every way of cutting the bytes
into reads; and canaries for the uvicorn internals it relies on. The same limits against a real
``jpsi-serve`` over raw sockets: tests/service/test_http_serve.py.
"""

from __future__ import annotations

import asyncio
import inspect
import re

import orjson
import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from service import Settings
from service import http as guarded
from service.http import SLICES_PER_READ, GuardedHttpToolsProtocol

LIMIT = 1024  # the smallest JPSI_MAX_HEADER_BYTES allowed
CONNECTIONS = 3


@pytest.fixture(autouse=True)
def small_limits(monkeypatch):
    settings = Settings(max_header_bytes=LIMIT, max_connections=CONNECTIONS, retry_after_seconds=7)
    monkeypatch.setattr(guarded, "settings_from_env", lambda: settings)


class Transport(asyncio.Transport):
    """What the protocol writes, and whether it closed; writes after the close are lost, as on
    a socket."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def get_extra_info(self, name, default=None):
        addresses = {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 40000)}
        return addresses.get(name, default)

    def write(self, data) -> None:
        if not self.closed:
            self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def echo(scope, receive, send) -> None:
    """Answers ``<path> <body bytes>``."""
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    payload = b"%s %d" % (scope["path"].encode(), size)
    headers = [(b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def connect(state: ServerState, limit_concurrency: int | None = None):
    config = uvicorn.Config(echo, log_config=None, lifespan="off")
    config.limit_concurrency = limit_concurrency
    config.load()
    protocol = GuardedHttpToolsProtocol(config, state, {}, _loop=asyncio.get_running_loop())
    transport = Transport()
    protocol.connection_made(transport)
    return protocol, transport


def run(
    reads: list[bytes], others: int = 0, running: int = 0, limit_concurrency: int | None = None
):
    """Feed ``reads`` to one connection while ``others`` more are open and ``running`` requests
    run on them; what it wrote, and whether it closed."""

    async def main():
        state = ServerState()
        state.tasks.update(object() for _ in range(running))  # only counted
        connections = [connect(state) for _ in range(others)]
        protocol, transport = connect(state, limit_concurrency)
        for data in reads:
            if transport.closed:
                break  # as a socket would: nothing more is read
            protocol.data_received(data)
            for _ in range(50):  # bounded: let the requests' tasks answer
                await asyncio.sleep(0)
        closed = transport.closed
        for p, _ in [*connections, (protocol, transport)]:
            p.connection_lost(None)
        return bytes(transport.written), closed

    return asyncio.run(main())


def statuses(written: bytes) -> list[int]:
    return [int(s) for s in re.findall(rb"HTTP/1\.1 (\d{3}) ", written)]


def head(size: int, path: bytes = b"/x", extra: bytes = b"") -> bytes:
    """A GET head of exactly ``size`` bytes, padded in a header."""
    start = b"GET %s HTTP/1.1\r\nHost: t\r\n%sX-Pad: " % (path, extra)
    return start + b"a" * (size - len(start) - 4) + b"\r\n\r\n"


def cuts(data: bytes, how: str) -> list[bytes]:
    if how == "one read":
        return [data]
    if how == "byte by byte":
        return [data[i : i + 1] for i in range(len(data))]
    if how == "7-byte reads":
        return [data[i : i + 7] for i in range(0, len(data), 7)]
    if how == "split in the blank line":
        return [data[:-3], data[-3:-1], data[-1:]]
    raise ValueError(how)


HOW = ["one read", "byte by byte", "7-byte reads", "split in the blank line"]


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("size", [LIMIT - 1, LIMIT])
def test_a_head_of_the_limit_or_less_is_answered(size, how):
    written, _ = run(cuts(head(size), how))
    assert statuses(written) == [200] and written.endswith(b"/x 0")


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("size", [LIMIT + 1, 2 * LIMIT, 200 * LIMIT])
def test_a_head_over_the_limit_is_431(size, how):
    written, closed = run(cuts(head(size), how))
    assert statuses(written) == [431] and closed
    body = orjson.loads(written.split(b"\r\n\r\n", 1)[1])
    assert body["detail"] == f"request line and headers over {LIMIT} bytes"
    assert b"content-type: application/problem+json" in written


def test_empty_lines_before_the_request_line_count():
    assert statuses(run([b"\r\n" + head(LIMIT - 2)])[0]) == [200]
    assert statuses(run([b"\r\n" + head(LIMIT - 1)])[0]) == [431]


def test_empty_lines_are_fed_to_the_parser_in_one_slice(monkeypatch):
    # one slice per blank line would cost a parser call per two bytes sent
    feeds = []
    parent = HttpToolsProtocol.data_received
    monkeypatch.setattr(HttpToolsProtocol, "data_received", lambda p, d: feeds.append(parent(p, d)))
    written, _ = run([b"\r\n" * 400 + head(100)])
    assert statuses(written) == [200] and len(feeds) == 2
    written, _ = run([b"\r\n" * (LIMIT // 2 + 1)])
    assert statuses(written) == [431] and len(feeds) == 3


def post(body: bytes, chunked: bool = False) -> bytes:
    if chunked:
        framed = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        return b"POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + framed
    return b"POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


BODY = b'{"a":\n\n"' + b"b" * 3000 + b'"}'  # longer than the limit, with a blank line in it


@pytest.mark.parametrize(
    "first",
    [head(LIMIT), head(100), post(BODY), post(BODY, chunked=True), post(b"")],
    ids=["GET at the limit", "GET", "Content-Length body", "chunked body", "empty body"],
)
@pytest.mark.parametrize("how", ["one read", "7-byte reads"])
def test_each_pipelined_head_is_counted_on_its_own(first, how):
    ok, _ = run(cuts(first + head(LIMIT) + head(LIMIT, b"/y"), how))
    assert statuses(ok) == [200, 200, 200] and ok.endswith(b"/y 0")
    refused, closed = run(cuts(first + head(LIMIT + 1), how))
    assert statuses(refused)[-1] == 431 and 200 not in statuses(refused)[1:] and closed


def test_a_head_after_a_chunked_body_of_many_blank_lines_is_never_undercounted():
    # past SLICES_PER_READ blank lines the rest of the read is fed whole: the next head is then
    # counted as every byte of it that was not body, more than it has, never less
    first = post(b"\n\n" * (SLICES_PER_READ + 1), chunked=True)
    assert statuses(run([first + head(100)])[0]) == [200, 200]
    assert statuses(run([first + head(LIMIT + 1)])[0])[-1] == 431


# the connection limit


def test_requests_are_answered_up_to_the_connection_limit():
    written, closed = run([head(100)], others=CONNECTIONS - 1)
    assert statuses(written) == [200] and not closed


def test_past_the_connection_limit_a_request_gets_503_problem_json_with_retry_after():
    written, closed = run([head(100)], others=CONNECTIONS)
    assert statuses(written) == [503] and closed
    raw_head, body = written.split(b"\r\n\r\n", 1)
    lines = raw_head.lower().split(b"\r\n")
    assert b"content-type: application/problem+json" in lines
    assert b"retry-after: 7" in lines and b"connection: close" in lines
    problem = orjson.loads(body)
    assert problem["status"] == 503 and problem["title"] == "Service Unavailable"
    assert problem["detail"] == (
        f"{CONNECTIONS + 1} connections open, more than the {CONNECTIONS} this worker takes; "
        "retry later"
    )


def test_with_as_many_requests_running_as_the_limit_a_request_gets_503():
    assert statuses(run([head(100)], running=CONNECTIONS - 1)[0]) == [200]
    written, closed = run([head(100)], running=CONNECTIONS)
    assert statuses(written) == [503] and closed
    detail = orjson.loads(written.split(b"\r\n\r\n", 1)[1])["detail"]
    assert (
        detail
        == f"{CONNECTIONS} requests running, the {CONNECTIONS} this worker takes; retry later"
    )


@pytest.mark.parametrize("path", [b"/healthz", b"/readyz", b"/metrics"])
def test_probes_are_answered_past_the_connection_limit(path):
    written, closed = run([head(100, path)], others=10 * CONNECTIONS, running=CONNECTIONS)
    assert statuses(written) == [200] and written.endswith(path + b" 0") and not closed


def test_a_path_that_only_starts_like_a_probe_is_refused():
    written, _ = run([head(100, b"/healthz/x"), head(100, b"/healthzz")], others=CONNECTIONS)
    assert statuses(written) == [503]


# canaries: the uvicorn internals service/http.py relies on


def test_uvicorns_own_connection_limit_is_off_whatever_the_config_says():
    # uvicorn's plain-text 503 would answer here: limit_concurrency 1, two connections
    written, _ = run([head(100)], others=1, limit_concurrency=1)
    assert statuses(written) == [200]


def test_the_uvicorn_internals_it_relies_on_are_there():
    """Fails when an upgrade of uvicorn moves what GuardedHttpToolsProtocol overrides or reads:
    then re-read service/http.py against the new httptools_impl.py."""
    source = inspect.getsource(HttpToolsProtocol.on_headers_complete)
    # the request's app is read from self.app there, after uvicorn's own limit test
    assert "app = self.app" in source and "self.limit_concurrency is not None" in source
    assert "self.url" in inspect.getsource(HttpToolsProtocol.on_url)
    for callback in ["on_message_begin", "on_headers_complete", "on_body", "on_message_complete"]:
        assert callable(getattr(HttpToolsProtocol, callback)), callback

    async def attributes():
        protocol, _ = connect(ServerState())
        names = ["app", "limit_concurrency", "connections", "tasks", "parser", "headers", "cycle"]
        names += ["server_state", "logger", "loop", "transport"]
        missing = [n for n in names if not hasattr(protocol, n)]
        protocol.connection_lost(None)
        return missing, protocol.connections

    missing, connections = asyncio.run(attributes())
    assert missing == [] and connections == set()
