"""Shared router plumbing: the JSON body (media type, parsing, cheap refusals) and the state."""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response

from service.errors import Refused, TooMany
from service.settings import Settings
from service.state import ServiceState

OFFLOAD_BYTES = 64 * 1024
"""Bodies at least this large are parsed in the thread pool, not on the event loop."""

ITEMS_PER_POINT = 16
"""JSON items of the largest valid point: an anomaly point with all ten channel values
(two objects, x, z, Q, PT, ten numbers)."""


def check_limits(data: Any, settings: Settings) -> None:
    """Refuse over-long top-level lists before validation, which costs ~1 µs per item."""
    if not isinstance(data, dict):
        return
    for field, limit in (
        ("points", settings.max_points),
        ("bins", settings.max_bins),
        ("PT", settings.max_pt_values),
    ):
        items = data.get(field)
        if isinstance(items, list) and len(items) > limit:
            raise TooMany(field, len(items), limit)
    columns = data.get("columns")
    if isinstance(columns, dict):
        for name, items in columns.items():
            if isinstance(items, list) and len(items) > settings.max_points:
                msg = (
                    f"too many rows in column {str(name)[:64]}: {len(items)} given, "
                    f"at most {settings.max_points} per JSON request (an Arrow stream takes "
                    "more)"
                )
                raise Refused(["body", "columns", str(name)[:64]], msg, "too_long")


def item_budget(settings: Settings) -> int:
    """More JSON items than the largest valid request holds, with room to spare."""
    return (
        ITEMS_PER_POINT * settings.max_points
        + 16 * settings.max_bins
        + settings.max_pt_values
        + 1024
    )


def count_items(body: bytes) -> int:
    """Commas, braces and brackets, counted without parsing: an upper bound on the values
    parsing allocates (a container of k values holds k - 1 commas), at ~0.7 ms per MB."""
    return len(body) - len(body.translate(None, b",{["))


_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"\s*(:?)')


def _keys_written(body: bytes) -> int:
    # in valid JSON every '"' outside a string opens one: scanning string by string is exact
    return _STRING.findall(body).count(b":")


def _keys_kept(data: Any) -> int:
    count, stack = 0, [data]
    while stack:  # not recursive: orjson accepts nesting deeper than Python's recursion limit
        node = stack.pop()
        values = node.values() if isinstance(node, dict) else node
        count += len(node) if isinstance(node, dict) else 0
        stack.extend(v for v in values if isinstance(v, dict | list))
    return count


def has_duplicate_keys(body: bytes, data: Any) -> bool:
    """Whether an object of the document repeats a key (orjson keeps the last, silently).

    Cheap: each key written is followed by a colon, and re-encoding what orjson kept
    writes one colon per key kept plus the same colons inside strings, so the counts
    differ exactly when a key was dropped. An escaped colon (\\u003a) or nesting too deep
    for ``orjson.dumps`` takes the exact path, which scans the strings.
    """
    if b"\\u003" not in body:
        try:
            return orjson.dumps(data).count(b":") < body.count(b":")
        except TypeError:  # orjson's recursion limit when encoding
            pass
    return _keys_written(body) > _keys_kept(data)


def parse_body(body: bytes, settings: Settings) -> Any:
    """orjson, after and before the checks that keep a hostile body cheap to refuse."""
    budget = item_budget(settings)
    if count_items(body) > budget:
        # a few MB of '[],' would otherwise allocate ~40 bytes of Python objects per byte
        msg = f"more than {budget} JSON values; the largest valid request holds fewer"
        raise Refused(["body"], msg, "too_long")
    data = orjson.loads(body)
    if isinstance(data, dict | list) and has_duplicate_keys(body, data):
        msg = "an object repeats a key; send each key once (none is picked silently)"
        raise Refused(["body"], msg, "duplicate_key")
    check_limits(data, settings)
    return data


def _media_type_problem(request: Request) -> HTTPException | None:
    encoding = request.headers.get("content-encoding", "identity")
    if encoding.strip().lower() != "identity":
        # never decompressed, so a compression bomb costs nothing
        return HTTPException(
            415,
            f"Content-Encoding {encoding[:100]!r} is not accepted; send the body uncompressed",
            {"accept-encoding": "identity"},
        )
    given = request.headers.get("content-type")
    media, _, params = (given or "").partition(";")
    media = media.strip().lower()
    charset = re.search(r"charset\s*=\s*\"?([^\s;\"]+)", params, re.IGNORECASE)
    is_json = media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )
    if not is_json or (charset and charset.group(1).lower() not in ("utf-8", "utf8")):
        got = repr(given[:100]) if given else "none"
        return HTTPException(415, f"Content-Type must be application/json (UTF-8), got {got}")
    return None


class OrjsonRequest(Request):
    """Parses JSON with orjson: ~3× faster than json.loads, and it refuses NaN and ±Infinity
    (its JSONDecodeError is json's, so FastAPI answers 422 ``json_invalid``). Before that, a
    body with more values than any valid request is refused unparsed; after it, duplicate
    keys and the list limits of the settings."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            settings = self.app.state.settings
            if len(body) < OFFLOAD_BYTES:
                self._json = parse_body(body, settings)
            else:
                self._json = await run_in_threadpool(parse_body, body, settings)
        return self._json


class OrjsonRoute(APIRoute):
    """A route with a JSON body: 415 for any other media type or any content coding, before
    the body is read (FastAPI would answer 422 "Input should be a valid dictionary")."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            refusal = _media_type_problem(request)
            if refusal is not None:
                raise refusal
            return await handler(OrjsonRequest(request.scope, request.receive))

        return route_handler


class JSONBytes(Response):
    """Body already encoded as JSON bytes."""

    media_type = "application/json"


async def state(request: Request) -> ServiceState:
    # async on purpose: a plain def dependency would cost a thread-pool hop per request
    return request.app.state.jpsi


State = Annotated[ServiceState, Depends(state)]
