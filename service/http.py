"""uvicorn's httptools protocol plus the limits it lacks: on the request head, and on connections.

uvicorn 0.54 with httptools accepts a request line and headers of any size (a
20 MB header is parsed and handed to the app) and never times out a
connection that has not finished sending them: a new connection that sends
nothing, or a head sent a byte at a time, holds its socket forever. Here the
head must arrive within ``JPSI_HEADER_TIMEOUT_SECONDS`` of the connection (or
of its first byte, for the next request on a kept-alive connection) and be at
most ``JPSI_MAX_HEADER_BYTES`` long; otherwise 408 or 431 (problem+json) and the
connection is closed. Between requests uvicorn's keep-alive timeout applies.

The head is counted exactly: from the end of the previous request on the
connection (empty lines before a request line count) to the blank line that
ends the headers, CRLFs included. httptools reports no byte offsets, so the
bytes of a read are fed to it in slices that end where the head could end: at
the budget still left for the head, at every blank line while a head or a
chunked body is read (``BLANK_LINE``), at the end of a Content-Length body, and
after the empty lines before a request line (all of them in one slice). A
head of the limit or fewer bytes completes within its budget; one byte more and
the budget is spent with the head unfinished, whether it came in one write or a
byte at a time (tests/service/test_http.py). Should a request begin inside a
slice after the previous one ended there (a chunked body with more than
``SLICES_PER_READ`` blank lines in one read), its head is counted as every byte
of the slice that was not body: never less than the truth.

uvicorn's own ``limit_concurrency`` answers every request, health probes
included, with a plain-text 503 once that many connections are open, idle or
half-sent ones too: a flood of idle connections makes a healthy process fail
its probes. Here ``JPSI_MAX_CONNECTIONS`` is enforced instead (uvicorn's check
is off): a request on a worker with more open connections than that (its own
included), or with that many requests running, gets 503 problem+json with
``Retry-After`` and its connection is closed, but ``PROBES`` are always answered.

uvicorn's other parser, h11, is no option of ``jpsi-serve``: its own head limit
(``h11_max_incomplete_event_size``) is tested only while a head is incomplete, so a
larger head that arrives whole in one read passes there too.

Every request's scope carries, as the extension ``jpsi.open_requests``, the set of the
worker's open requests: with others open the fast path of small requests waits a turn of the
event loop to share an ONNX run, alone it runs at once (service/fastpath.py).

Selected with ``http="service.http:GuardedHttpToolsProtocol"``; each worker
reads the limits from its ``JPSI_*`` environment, as the app does. The uvicorn
internals used here are checked by tests/service/test_http.py.
"""

from __future__ import annotations

import asyncio
import functools
import re
from typing import Any, cast

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from service.errors import problem, title
from service.settings import settings_from_env

OPEN_REQUESTS = "jpsi.open_requests"
"""Scope extension: the set of this worker's request tasks (uvicorn's), open at the moment."""

PROBES = frozenset({b"/healthz", b"/readyz", b"/metrics"})
"""Answered past the connection limit: orchestrators and scrapers must still get through."""

BLANK_LINE = re.compile(rb"\n\r?\n")
"""Where a head or a chunked body can end (httptools wants CRLF; a bare LF is matched too)."""

EMPTY_LINES = re.compile(rb"[\r\n]*")
"""Before a request line: fed as one slice (as blank lines they would be one slice each)."""

SLICES_PER_READ = 16
"""Blank lines of a chunked body fed apart per read; past them the rest of the read goes whole
(each slice appends to uvicorn's body buffer: unbounded, a body of blank lines would be
quadratic)."""


def _after_empty_lines(data: bytes, pos: int, end: int) -> int:
    match = EMPTY_LINES.match(data, pos, end)  # the pattern matches the empty string too
    return match.end() if match else pos


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = settings_from_env()
        self.head_timeout = settings.header_timeout_seconds
        self.max_head_bytes = settings.max_header_bytes
        self.max_connections = settings.max_connections
        self.retry_after = settings.retry_after_seconds
        self.limit_concurrency = None  # uvicorn's plain 503: replaced by _over_limit
        self._app = self.app
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_head = True  # the next bytes belong to a request line or headers
        self._begun = False  # and the request line has begun
        self._head_bytes = 0  # of the current head, fed in earlier slices
        self._body_left: int | None = None  # of a Content-Length body; None when chunked
        self._tail = b""  # the last two bytes fed, for a blank line split between reads
        # what happened while the current slice was fed
        self._slice_len = 0
        self._slice_body = 0
        self._completed = False  # a request ended in it
        self._begun_after: int | None = None  # body bytes before a request begun after that

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        pos = slices = 0
        while pos < len(data) and not self.transport.is_closing():
            end = max(self._slice_end(data, pos, slices), pos + 1)  # a byte at least, always
            self._feed(data, pos, end)
            pos, slices = end, slices + 1
            if self._completed and self.parser.should_upgrade():
                return  # as in uvicorn: the rest of a read that asked for an upgrade is dropped

    def _slice_end(self, data: bytes, pos: int, slices: int) -> int:
        if self._in_head:
            end = min(pos + self.max_head_bytes - self._head_bytes, len(data))
            empty = pos if self._begun else _after_empty_lines(data, pos, end)
            return self._blank_line_end(data, pos, end) or end if empty == pos else empty
        if self._body_left is not None:
            return min(pos + max(self._body_left, 1), len(data))
        if slices < SLICES_PER_READ:
            return self._blank_line_end(data, pos, len(data)) or len(data)
        return len(data)

    def _blank_line_end(self, data: bytes, pos: int, end: int) -> int | None:
        """The end of the first blank line that ends in ``data[pos:end]`` (its LF included)."""
        before = self._tail if pos == 0 else data[max(pos - 2, 0) : pos]
        edge = before + data[pos : min(pos + 2, end)]
        match = BLANK_LINE.search(edge)
        while match and match.end() <= len(before):
            match = BLANK_LINE.search(edge, match.start() + 1)
        if match:
            return pos + match.end() - len(before)
        match = BLANK_LINE.search(data, pos, end)
        return match.end() if match else None

    def _feed(self, data: bytes, pos: int, end: int) -> None:
        began_in_head = self._in_head
        if began_in_head and self._head_timer is None:
            self._arm()
        self._slice_len, self._slice_body = end - pos, 0
        self._completed, self._begun_after = False, None
        # a memoryview slice, not a copy: httptools takes any buffer
        piece = cast(bytes, memoryview(data)[pos:end]) if pos or end < len(data) else data
        super().data_received(piece)
        self._tail = (self._tail + data[max(pos, end - 2) : end])[-2:]
        if not self._in_head or self.transport.is_closing():
            return
        if self._begun_after is not None:  # at most: all of the slice that was not body
            self._head_bytes = self._slice_len - self._begun_after
        elif self._completed:  # a request ended at the slice's end (or only empty lines follow)
            self._head_bytes = 0
        elif began_in_head:
            self._head_bytes += self._slice_len
        if self._head_bytes >= self.max_head_bytes:  # spent, and the head still unfinished
            self._refuse(431, f"request line and headers over {self.max_head_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._begun = True
        if self._head_timer is None:
            self._arm()
        if self._completed:
            self._begun_after = self._slice_body

    def on_headers_complete(self) -> None:
        if self.transport.is_closing():
            return  # refused earlier in this read
        self._in_head = self._begun = False
        self._head_bytes = 0
        self._disarm()
        self._body_left = self._content_length()
        begun_after = self._begun_after
        if begun_after is not None and self._slice_len - begun_after > self.max_head_bytes:
            # begun inside this slice: only this bound is known
            self._refuse(431, f"request line and headers over {self.max_head_bytes} bytes")
            return
        self.app = self._app
        # the worker's open requests, for the fast path's batching (service/fastpath.py)
        extensions = cast(dict[str, Any], self.scope.setdefault("extensions", {}))
        extensions[OPEN_REQUESTS] = self.tasks
        over = self._over_limit()
        if over and httptools.parse_url(self.url).path not in PROBES:
            self.app = functools.partial(self._refuse_connection, over)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._slice_body += len(body)
        if self._body_left is not None:
            self._body_left -= len(body)
        if not self.transport.is_closing():
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._in_head, self._completed = True, True
        if not self.transport.is_closing():
            super().on_message_complete()

    def _content_length(self) -> int | None:
        """Body bytes the request announces; None for a chunked body."""
        length = 0
        for name, value in self.headers:
            if name == b"transfer-encoding":
                return None
            if name == b"content-length":
                length = int(value)  # httptools has refused anything but digits
        return length

    def _over_limit(self) -> str | None:
        """Why a request now would be one too many (uvicorn's test, with this connection
        counted among the open ones), or None."""
        connections, tasks = len(self.connections), len(self.tasks)
        if connections > self.max_connections:
            return f"{connections} connections open, more than the {self.max_connections}"
        if tasks >= self.max_connections:
            return f"{tasks} requests running, the {self.max_connections}"
        return None

    async def _refuse_connection(self, over: str, scope: Any, receive: Any, send: Any) -> None:
        detail = f"{over} this worker takes; retry later"
        self.logger.warning("%s: closing the connection", detail)
        headers = {"retry-after": str(self.retry_after), "connection": "close"}
        await problem(503, title(503), detail, headers=headers)(scope, receive, send)

    def _arm(self) -> None:
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._in_head or self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self._arm()  # a response is being written: interrupting it would garble it
        elif self._head_bytes:
            self._refuse(408, f"request headers not received within {self.head_timeout:g} s")
        else:
            self.transport.close()  # nothing sent at all: nobody to answer

    def _refuse(self, status: int, detail: str) -> None:
        self.logger.warning("%s: closing the connection", detail)
        body = problem(status, title(status), detail).body
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/problem+json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
        self._disarm()
