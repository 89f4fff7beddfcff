"""uvicorn's httptools protocol plus the two limits it lacks on the request head.

uvicorn 0.54 with httptools accepts a request line and headers of any size (a
20 MB header is parsed and handed to the app) and never times out a
connection that has not finished sending them: a new connection that sends
nothing, or a head sent a byte at a time, holds its socket forever. Here the
head must arrive within ``JPSI_HEADER_TIMEOUT_SECONDS`` of the connection (or
of its first byte, for the next request on a kept-alive connection) and stay
under ``JPSI_MAX_HEADER_BYTES``; otherwise 408 or 431 (problem+json) and the
connection is closed. Between requests uvicorn's keep-alive timeout applies.

Selected with ``http="service.http:GuardedHttpToolsProtocol"``; each worker
reads the limits from its ``JPSI_*`` environment, as the app does.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from service.errors import problem, title
from service.settings import Settings


@functools.cache
def _settings() -> Settings:
    return Settings()


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = _settings()
        self.head_timeout = settings.header_timeout_seconds
        self.max_head_bytes = settings.max_header_bytes
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_head = True  # the next bytes belong to a request line or headers
        self._head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_timer is None:
                self._arm()
        super().data_received(data)
        # checked after parsing, so a chunk that completes the head is never counted whole
        if self._in_head and self._head_bytes > self.max_head_bytes:
            self._refuse(431, f"request line and headers over {self.max_head_bytes} bytes")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True

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
