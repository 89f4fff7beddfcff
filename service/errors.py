"""Structured errors: RFC 9457 problem details for every error the service answers.

The 422 handler replaces FastAPI's default, which echoes the offending input
back: a NaN in a request would then fail to serialise and become a 500. Here
only the location, message and type of each error are returned.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, cast

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class Unavailable(Exception):
    """The resource needs something that is not loaded (503)."""

    def __init__(self, detail: str, reasons: Sequence[str] = ()):
        super().__init__(detail)
        self.detail = detail
        self.reasons = list(reasons)


class Refused(HTTPException):
    """A 422 found while reading the body, before validation. An HTTPException, not a
    RequestValidationError: FastAPI turns anything else raised while parsing into a 400."""

    def __init__(self, loc: Sequence[str | int], msg: str, type_: str):
        super().__init__(422, msg)
        self.errors = [{"loc": list(loc), "msg": msg, "type": type_}]


class TooMany(Refused):
    """A list over its configured limit, found before validation (422, naming the first extra)."""

    def __init__(self, field: str, given: int, limit: int):
        msg = f"too many {field}: {given} given, at most {limit} per request"
        super().__init__(["body", field, limit], msg, "too_long")


def problem(
    status: int,
    title: str,
    detail: str,
    errors: Iterable[dict] = (),
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body["errors"] = list(errors)
    body.update(extra)
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type=PROBLEM_JSON
    )


def invalid(
    loc: Sequence[str | int], msg: str, type_: str = "value_error"
) -> RequestValidationError:
    """A 422 for a check the schema cannot express (limits, unknown PDF set, bin edges)."""
    return RequestValidationError([{"loc": tuple(loc), "msg": msg, "type": type_}])


NON_FINITE = ("NaN", "Infinity", "-Infinity", "+Infinity")

MAX_LOC_CHARS = 64
"""A key named in ``loc`` is cut to this length: an unknown key may be megabytes long."""


def _part(part: object) -> int | str:
    if isinstance(part, int):
        return part
    text = str(part)
    return text if len(text) <= MAX_LOC_CHARS else text[:MAX_LOC_CHARS] + "…"


def _clean(error: dict, body: object) -> dict:
    loc = [_part(part) for part in error.get("loc", ())]
    msg = str(error.get("msg", "invalid"))
    ctx = error.get("ctx") or {}
    if error.get("type") == "json_invalid" and isinstance(ctx.get("error"), str):
        msg = f"{msg}: {ctx['error']}"  # orjson's reason
        pos = loc[-1] if loc and isinstance(loc[-1], int) else None
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        if pos is not None and isinstance(text, str) and text[pos:].startswith(NON_FINITE):
            msg += " (NaN and ±Infinity are not JSON numbers: every number must be finite)"
    return {"loc": loc, "msg": msg, "type": str(error.get("type", "value_error"))}


async def validation_handler(request: Request, exc: RequestValidationError) -> Response:
    # never exc.body or an error's "input": they may hold what cannot be serialised
    errors = [_clean(e, exc.body) for e in exc.errors()]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return problem(422, title(422), f"{where}: {first['msg']}{more}", errors)


async def http_handler(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    errors = getattr(exc, "errors", ())
    return problem(status, title(status), str(exc.detail), errors, headers=exc.headers)


async def unavailable_handler(request: Request, exc: Unavailable) -> Response:
    return problem(503, "Service Unavailable", exc.detail, reasons=exc.reasons)


async def unexpected_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    # this handler runs outside every middleware: the request id is added here
    rid = getattr(request.state, "request_id", None)
    return problem(
        500,
        "Internal Server Error",
        "unexpected error; it has been logged",
        headers={"x-request-id": rid} if rid else None,
    )


TITLES = {413: "Content Too Large", 422: "Unprocessable request"}  # RFC 9110 names


def title(status: int) -> str:
    from http import HTTPStatus

    if status in TITLES:
        return TITLES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


Handler = Callable[[Request, Exception], Awaitable[Response]]


def install(app: FastAPI) -> None:
    # Starlette types a handler as taking any Exception; each of ours takes its own kind
    app.add_exception_handler(RequestValidationError, cast(Handler, validation_handler))
    app.add_exception_handler(HTTPException, cast(Handler, http_handler))
    app.add_exception_handler(Unavailable, cast(Handler, unavailable_handler))
    app.add_exception_handler(Exception, unexpected_handler)
