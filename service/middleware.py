"""Pure ASGI middleware. In the app, from the outside in:

- ``RequestContextMiddleware``: the request id (X-Request-ID in and out) and the access log;
- ``MetricsMiddleware``: requests and latency per route template;
- ``OverloadMiddleware``: 503 + Retry-After at once past the in-flight limit;
- ``ApiKeyMiddleware``: 401 without the right X-API-Key (when a key is set);
- ``RateLimitMiddleware``: 429 + Retry-After past a token bucket (when a rate is set);
- ``BodyLimitMiddleware``: 413 past the byte limit, 408 past the body timeout.

The refusals come before the body is read, so they cost the same whatever is sent.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Generator
from typing import Any

import anyio
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import problem, title
from service.logs import REQUEST_ID, request_id
from service.metrics import Metrics

OPERATIONS = frozenset({"/healthz", "/readyz", "/metrics"})

ARROW_STREAM = b"application/vnd.apache.arrow.stream"
"""Exempt from the overload and rate limits: orchestrators and scrapers must still get through."""

access_log = logging.getLogger("service.access")

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Method label values; any other method (PROPFIND, MKCOL, …) is counted as ``other``, so
what clients send cannot grow the metrics without bound."""


def method_label(scope: Scope) -> str:
    method = scope.get("method", "")
    return method if method in METHODS else "other"


def route_template(scope: Scope) -> str:
    """The route template of a request (``/v1/exact``, never a raw path), also for requests a
    middleware refused before routing; ``unmatched`` when no route matches."""
    route = scope.get("route")
    if route is None and "app" in scope:
        partial = None
        # FastAPI 0.165 keeps included routers as nodes: this walks the routes inside them
        for candidate in iter_route_contexts(scope["app"].routes):
            match, _ = candidate.matches(scope)
            if match is Match.FULL:
                route = candidate
                break
            if match is Match.PARTIAL and partial is None:
                partial = candidate
        route = route or partial
    return getattr(route, "path", None) or "unmatched"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return None


class RequestContextMiddleware:
    """Give every request an id and log one access line per request (if enabled).

    The id is the client's ``X-Request-ID`` when it is short and plain, else a new
    uuid4 hex; it is echoed in the ``X-Request-ID`` response header of every response
    that passes here (so every refusal of the inner middleware too), kept in
    ``request.state.request_id`` (for the 500 handler, which runs outside all middleware)
    and in a context variable that stamps the request's log lines.
    """

    def __init__(self, app: ASGIApp, log_access: bool):
        self.app = app
        self.log_access = log_access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        rid = request_id(given.decode("latin-1") if given is not None else None)
        # never reset: each request runs in its own task, whose context ends with it
        REQUEST_ID.set(rid)
        start = time.perf_counter()
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        state["arrived"] = start  # the deadline of cost admission counts from here
        id_header = (b"x-request-id", rid.encode())
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", ()) if h[0].lower() != id_header[0]]
                message = {**message, "headers": [*headers, id_header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.log_access:
                self._log(scope, rid, status, 1e3 * (time.perf_counter() - start))

    @staticmethod
    def _log(scope: Scope, rid: str, status: int, ms: float) -> None:
        client = scope.get("client")
        where = f"{client[0]}:{client[1]}" if client else None
        method, route = scope.get("method", ""), route_template(scope)
        access_log.info(
            '%s "%s %s" %d %.1f ms',
            where,
            method,
            route,
            status,
            ms,
            extra={
                "request_id": rid,
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(ms, 3),
                "client": where,
            },
        )


class MetricsMiddleware:
    """Count requests and time them per route template (``/v1/exact``, never a raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics
        # labels() validates and locks on every call (~2.5 µs): each series is looked up once
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            # every label from a fixed set: route templates, METHODS, status codes we send
            key = (route_template(scope), method_label(scope), status)
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = (
                    self.metrics.requests.labels(key[0], key[1], str(status)),
                    self.metrics.latency.labels(key[0], key[1]),
                )
            series[0].inc()
            series[1].observe(time.perf_counter() - start)


class OverloadMiddleware:
    """Past ``limit`` requests in flight in this worker, answer 503 with ``Retry-After`` at
    once instead of queueing without bound (a queue only turns overload into timeouts for
    everyone). The count is per worker process; the operations endpoints are not counted."""

    def __init__(self, app: ASGIApp, limit: int, retry_after: int):
        self.app = app
        self.limit = limit
        self.retry_after = retry_after
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPERATIONS:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            detail = f"{self.limit} requests in flight, the most this worker takes; retry later"
            retry = {"retry-after": str(self.retry_after)}
            response = problem(503, title(503), detail, headers=retry)
            await response(scope, receive, send)
            return
        # one event loop per worker: no lock needed around the count
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class ApiKeyMiddleware:
    """401 unless the header ``X-API-Key`` equals the key (constant-time compare), on every
    path but ``open_paths``. Middleware rather than a route dependency: it holds for routes
    added later, and it answers before the body is read."""

    def __init__(self, app: ASGIApp, key: str, open_paths: frozenset[str]):
        self.app = app
        self.key = key.encode()
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-api-key") or b""
        if not secrets.compare_digest(given, self.key):
            response = problem(401, title(401), "missing or wrong X-API-Key header")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class TokenBuckets:
    """Token buckets by key: ``size`` tokens each, refilled at ``rate`` per second.

    At most ``max_keys`` buckets are kept; past that the least recently used is dropped
    (its key comes back with a full bucket), so memory stays bounded whatever the number
    of clients.
    """

    def __init__(
        self,
        rate: float,
        size: int,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.rate = rate
        self.size = size
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()

    def take(self, key: bytes) -> float:
        """Take a token: 0.0 if there was one, else the seconds until there will be."""
        now = self.clock()
        tokens, last = self._buckets.pop(key, (float(self.size), now))
        tokens = min(float(self.size), tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)  # re-inserted last: the most recently used
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait


class RateLimitMiddleware:
    """A token bucket per API key (per client address when no key is configured); over it,
    429 with ``Retry-After``: the whole seconds until the bucket holds a token again.

    The buckets live in each worker process: with N workers a client gets up to N × the
    rate, and a restart refills them. That stops one client from hogging a worker; a strict
    limit across workers and replicas belongs in a shared store or the ingress. Behind a
    proxy the client address is the one uvicorn takes from X-Forwarded-For (trusted from
    127.0.0.1 only, uvicorn's default).
    """

    def __init__(
        self,
        app: ASGIApp,
        rate: float,
        size: int,
        by_api_key: bool,
        exempt: frozenset[str] = OPERATIONS,
    ):
        self.app = app
        self.buckets = TokenBuckets(rate, size)
        self.by_api_key = by_api_key
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        if self.by_api_key:
            key = b"key:" + (_header(scope, b"x-api-key") or b"")
        else:
            client = scope.get("client")
            key = b"addr:" + (client[0].encode() if client else b"?")
        wait = self.buckets.take(key)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            detail = f"over {self.buckets.rate:g} requests/s; retry in {seconds} s"
            response = problem(429, title(429), detail, headers={"retry-after": str(seconds)})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class _Resumed:
    """Awaits the rest of a coroutine already stepped once (``first``: what it yielded)."""

    def __init__(self, coro: Coroutine[Any, Any, Message], first: Any):
        self.coro, self.first = coro, first

    def __await__(self) -> Generator[Any, Any, Message]:
        step = self.first
        while True:  # what ``await`` does, from the second step on
            try:
                try:
                    sent = yield step
                except BaseException as exc:  # a cancellation (the timeout): into the coroutine
                    step = self.coro.throw(exc)
                else:
                    step = self.coro.send(sent)
            except StopIteration as done:
                return done.value


async def _within(seconds: float, receive: Receive) -> Message:
    """``await receive()``, TimeoutError after ``seconds``. A message that is ready (the body
    of a small request has usually arrived with its head) costs no timer: the receive is
    stepped once, and only if it has to wait does the wait get a deadline (a cancel scope
    costs ~10 µs, a fifth of a one-point request)."""
    pending = receive()
    if not isinstance(pending, Coroutine):
        with anyio.fail_after(seconds):
            return await pending
    try:
        first = pending.send(None)
    except StopIteration as done:
        return done.value
    with anyio.fail_after(seconds):
        return await _Resumed(pending, first)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        # the rest of the body is not read: the connection cannot be reused
        super().__init__(413, f"request body larger than {limit} bytes", {"connection": "close"})


class BodyTimeout(HTTPException):
    def __init__(self, timeout: float):
        detail = f"request body not received within {timeout:g} s"
        super().__init__(408, detail, {"connection": "close"})


class BodyLimitMiddleware:
    """Refuse bodies over ``limit`` bytes with 413, and bodies not complete ``timeout``
    seconds after the request arrived with 408 (a client dribbling its body byte by byte
    would otherwise hold a request slot for as long as it likes).

    A declared Content-Length over the limit is refused before reading; a chunked body as
    soon as the running count passes the limit. Both checks raise from ``receive`` an
    HTTPException, which the app turns into a problem response; if it escapes, it is
    answered here.
    """

    def __init__(self, app: ASGIApp, limit: int, timeout: float, bulk_limit: int | None = None):
        self.app = app
        self.limit = limit
        self.timeout = timeout
        self.bulk_limit = limit if bulk_limit is None else bulk_limit

    def limit_for(self, scope: Scope) -> int:
        """``bulk_limit`` for an Arrow stream or a V2 request with binary tensors (the header
        Inference-Header-Content-Length), ``limit`` for every other body."""
        if self.bulk_limit != self.limit:
            media = (_header(scope, b"content-type") or b"").split(b";")[0].strip().lower()
            if media == ARROW_STREAM or (
                scope["path"].startswith("/v2/")
                and _header(scope, b"inference-header-content-length") is not None
            ):
                return self.bulk_limit
        return self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                too_large = False  # the server refuses a malformed length before we see it
            if too_large:
                await self._refuse(BodyTooLarge(limit), scope, receive, send)
                return
        deadline = anyio.current_time() + self.timeout
        received = 0
        more_body = True
        started = False

        async def guarded_receive() -> Message:
            nonlocal received, more_body
            if not more_body:
                return await receive()  # waiting for a disconnect is no body read
            remaining = deadline - anyio.current_time()
            if remaining <= 0:
                raise BodyTimeout(self.timeout)
            try:
                message = await _within(remaining, receive)
            except TimeoutError:
                raise BodyTimeout(self.timeout) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
                more_body = message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, tracking_send)
        except (BodyTooLarge, BodyTimeout) as exc:
            if started:
                raise
            await self._refuse(exc, scope, receive, send)

    @staticmethod
    async def _refuse(exc: HTTPException, scope: Scope, receive: Receive, send: Send) -> None:
        status = exc.status_code
        response = problem(status, title(status), str(exc.detail), headers=exc.headers)
        await response(scope, receive, send)
