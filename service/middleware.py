"""The guards of the service: one pure ASGI layer (``Guards``) that applies, in this order,

1. the request id: X-Request-ID in and out, on every response including the refusals
   below, and the access log (when enabled);
2. metrics: requests and latency per route template;
3. the in-flight limit: 503 + Retry-After at once past it (operations exempt);
4. the API key: 401 without the right X-API-Key (when a key is set);
5. the rate limit: 429 + Retry-After past a token bucket (when a rate is set);
6. the body limit and timeout: 413 past the byte limit, 408 past the body timeout.

The refusals come before the body is read, so they cost the same whatever is sent. One
layer, not six: each layer is a call and a wrapped ``send`` per request, and six of them
cost ~15 µs, an eighth of a one-point request (bench/floor.py).
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
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import problem, title
from service.logs import REQUEST_ID, request_id
from service.metrics import Metrics

OPERATIONS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Exempt from the overload and rate limits: orchestrators and scrapers must still get through."""

ARROW_STREAM = b"application/vnd.apache.arrow.stream"

access_log = logging.getLogger("service.access")

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Method label values; any other method (PROPFIND, MKCOL, …) is counted as ``other``, so
what clients send cannot grow the metrics without bound."""


def method_label(scope: Scope) -> str:
    method = scope.get("method", "")
    return method if method in METHODS else "other"


def matching_route(scope: Scope) -> Any:
    """The app's route that matches the request (fully, else partly: the path with another
    method), or None; found by walking the app's routes, as the router does."""
    partial = None
    # FastAPI 0.165 keeps included routers as nodes: this walks the routes inside them
    for candidate in iter_route_contexts(scope["app"].routes):
        match, _ = candidate.matches(scope)
        if match is Match.FULL:
            return candidate
        if match is Match.PARTIAL and partial is None:
            partial = candidate
    return partial


def route_template(scope: Scope) -> str:
    """The route template of a request (``/v1/exact``, never a raw path), also for requests a
    middleware refused before routing; ``unmatched`` when no route matches."""
    route = scope.get("route")
    if route is None and "app" in scope:
        route = matching_route(scope)
    return getattr(route, "path", None) or "unmatched"


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


class Guards:
    """Every guard of the module docstring, in its order, around ``app``.

    The request id is the client's ``X-Request-ID`` when it is short and plain, else a new
    uuid4 hex; it is kept in ``scope["state"]["request_id"]`` (for the 500 handler, which
    runs outside all middleware) and in a context variable that stamps the request's log
    lines. ``scope["state"]["arrived"]`` is when the request got here: the deadline of cost
    admission counts from it.

    The in-flight count is per worker process (one event loop: no lock). The rate limit is
    a token bucket per API key (per client address when no key is configured), also per
    worker: with N workers a client gets up to N × the rate, and a restart refills them.
    That stops one client from hogging a worker; a strict limit across workers and replicas
    belongs in a shared store or the ingress. Behind a proxy the client address is the one
    uvicorn takes from X-Forwarded-For (trusted from 127.0.0.1 only, uvicorn's default).

    Bodies are limited to ``body_limit`` bytes, or ``bulk_body_limit`` for an Arrow stream
    or a V2 request with binary tensors (header Inference-Header-Content-Length). A declared
    Content-Length over the limit is refused before reading; a chunked body as soon as the
    running count passes it. A body not complete ``body_timeout`` seconds after the request
    arrived gets 408 (a client dribbling its body byte by byte would otherwise hold a request
    slot for as long as it likes). Both are raised from ``receive`` as an HTTPException,
    which the app turns into a problem response; if it escapes, it is answered here.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics | None,
        body_limit: int,
        body_timeout: float,
        bulk_body_limit: int | None = None,
        max_in_flight: int = 64,
        retry_after: int = 1,
        api_key: str | None = None,
        open_paths: frozenset[str] = OPERATIONS,
        rate: float | None = None,
        bucket_size: int = 1,
        rate_by_api_key: bool = False,
        rate_exempt: frozenset[str] = OPERATIONS,
        log_access: bool = False,
    ):
        self.app = app
        self.metrics = metrics
        # labels() validates and locks on every call (~2.5 µs): each series is looked up once
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.body_limit = body_limit
        self.body_timeout = body_timeout
        self.bulk_body_limit = body_limit if bulk_body_limit is None else bulk_body_limit
        self.max_in_flight = max_in_flight
        self.retry_after = retry_after
        self.in_flight = 0
        self.api_key = api_key.encode() if api_key is not None else None
        self.open_paths = open_paths
        self.buckets = TokenBuckets(rate, bucket_size) if rate else None
        self.rate_by_api_key = rate_by_api_key
        self.rate_exempt = rate_exempt
        self.log_access = log_access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        given_id = key = length = media = v2_binary = None
        for name, value in scope["headers"]:  # the headers this layer reads, in one pass
            if name == b"x-request-id":
                given_id = value
            elif name == b"x-api-key":
                key = value
            elif name == b"content-length":
                length = value
            elif name == b"content-type":
                media = value
            elif name == b"inference-header-content-length":
                v2_binary = value
        rid = request_id(given_id.decode("latin-1") if given_id is not None else None)
        # never reset: each request runs in its own task, whose context ends with it
        REQUEST_ID.set(rid)
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        state["arrived"] = start
        id_header = (b"x-request-id", rid.encode())
        status = 500
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                headers = [h for h in message.get("headers", ()) if h[0].lower() != id_header[0]]
                message = {**message, "headers": [*headers, id_header]}
            await send(message)

        path = scope["path"]
        counted = path not in OPERATIONS and self.in_flight < self.max_in_flight
        if counted:
            self.in_flight += 1
        try:
            refusal = None
            if path not in OPERATIONS and not counted:
                detail = (
                    f"{self.max_in_flight} requests in flight, the most this worker takes; "
                    "retry later"
                )
                refusal = problem(
                    503, title(503), detail, headers={"retry-after": str(self.retry_after)}
                )
            elif self.api_key is not None and path not in self.open_paths:
                if not secrets.compare_digest(key or b"", self.api_key):
                    refusal = problem(401, title(401), "missing or wrong X-API-Key header")
            if refusal is None and self.buckets is not None and path not in self.rate_exempt:
                refusal = self._rate_limited(scope, key)
            limit = self._body_limit(path, media, v2_binary)
            if refusal is None and length is not None and _over(length, limit):
                refusal = _refusal(BodyTooLarge(limit))
            if refusal is not None:
                await refusal(scope, receive, guarded_send)
                return
            try:
                await self.app(scope, self._limited(receive, limit, start), guarded_send)
            except (BodyTooLarge, BodyTimeout) as exc:
                if started:
                    raise
                await _refusal(exc)(scope, receive, guarded_send)
        finally:
            if counted:
                self.in_flight -= 1
            if self.metrics is not None:
                self._record(scope, status, time.perf_counter() - start)
            if self.log_access:
                _log(scope, rid, status, 1e3 * (time.perf_counter() - start))

    def _rate_limited(self, scope: Scope, key: bytes | None) -> Response | None:
        assert self.buckets is not None
        if self.rate_by_api_key:
            bucket = b"key:" + (key or b"")
        else:
            client = scope.get("client")
            bucket = b"addr:" + (client[0].encode() if client else b"?")
        wait = self.buckets.take(bucket)
        if wait <= 0:
            return None
        seconds = max(1, math.ceil(wait))
        detail = f"over {self.buckets.rate:g} requests/s; retry in {seconds} s"
        return problem(429, title(429), detail, headers={"retry-after": str(seconds)})

    def _body_limit(self, path: str, media: bytes | None, v2_binary: bytes | None) -> int:
        """``bulk_body_limit`` for an Arrow stream or a V2 request with binary tensors,
        ``body_limit`` for every other body."""
        if self.bulk_body_limit != self.body_limit:
            kind = (media or b"").split(b";")[0].strip().lower()
            if kind == ARROW_STREAM or (path.startswith("/v2/") and v2_binary is not None):
                return self.bulk_body_limit
        return self.body_limit

    def _limited(self, receive: Receive, limit: int, arrived: float) -> Receive:
        """``receive`` that raises 413 past ``limit`` bytes and 408 past the body timeout."""
        deadline = arrived + self.body_timeout
        received = 0
        more_body = True
        timeout = self.body_timeout

        async def limited_receive() -> Message:
            nonlocal received, more_body
            if not more_body:
                return await receive()  # waiting for a disconnect is no body read
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise BodyTimeout(timeout)
            try:
                message = await _within(remaining, receive)
            except TimeoutError:
                raise BodyTimeout(timeout) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
                more_body = message.get("more_body", False)
            return message

        return limited_receive

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        assert self.metrics is not None
        # every label from a fixed set: route templates, METHODS, status codes we send
        key = (route_template(scope), method_label(scope), status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = (
                self.metrics.requests.labels(key[0], key[1], str(status)),
                self.metrics.latency.labels(key[0], key[1]),
            )
        series[0].inc()
        series[1].observe(seconds)


def _over(declared: bytes, limit: int) -> bool:
    try:
        return int(declared) > limit
    except ValueError:
        return False  # the server refuses a malformed length before we see it


def _refusal(exc: HTTPException) -> Response:
    status = exc.status_code
    return problem(status, title(status), str(exc.detail), headers=exc.headers)


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
