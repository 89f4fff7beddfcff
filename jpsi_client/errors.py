"""Typed errors: every refusal from the service carries its RFC 9457 problem details.

``JpsiHTTPError`` is raised for any answer the client does not retry (or stops retrying);
its subclass says which kind, so a pipeline catches ``RateLimited`` or ``Unavailable``
without parsing a message. ``problem`` is the server's problem+json body as a dict (empty
when the body was not problem+json), ``errors`` its per-field list for a 422.
"""

from __future__ import annotations

from typing import Any


class JpsiError(Exception):
    """Base of every error this package raises."""


class JpsiHTTPError(JpsiError):
    """An HTTP answer that is not a success, with the server's problem details."""

    def __init__(
        self,
        status: int,
        problem: dict[str, Any] | None = None,
        *,
        url: str = "",
        attempts: int = 1,
        text: str = "",
    ):
        self.status = status
        self.problem = problem or {}
        self.url = url
        self.attempts = attempts
        self.title = str(self.problem.get("title", ""))
        self.detail = str(self.problem.get("detail", text[:500]))
        self.errors: list[dict[str, Any]] = list(self.problem.get("errors") or [])
        self.reasons: list[str] = list(self.problem.get("reasons") or [])
        where = f" from {url}" if url else ""
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        message = f"HTTP {status}{where}{tries}: {self.title or 'error'}"
        if self.detail:
            message += f" — {self.detail}"
        for e in self.errors[:5]:
            loc = ".".join(str(p) for p in e.get("loc", []))
            message += f"\n  {loc}: {e.get('msg', '')}"
        super().__init__(message)


class BadRequest(JpsiHTTPError):
    """400 and any 4xx without a class of its own: the request itself is wrong."""


class Unauthorized(JpsiHTTPError):
    """401/403: no or a wrong API key (``X-API-Key``)."""


class NotFound(JpsiHTTPError):
    """404: the endpoint does not exist on this server (e.g. an older version)."""


class PayloadTooLarge(JpsiHTTPError):
    """413: the request exceeded a server limit (lower ``max_rows``)."""


class UnsupportedMediaType(JpsiHTTPError):
    """415: the server does not accept this wire format."""


class ValidationFailed(JpsiHTTPError):
    """422: the body broke the schema; ``errors`` names each field and index."""


class RateLimited(JpsiHTTPError):
    """429 after the retry budget was spent."""


class Unavailable(JpsiHTTPError):
    """503 after the retry budget was spent (overloaded, or a model/PDF set not loaded:
    ``reasons`` says which)."""


class ServerError(JpsiHTTPError):
    """Any other 5xx."""


class TransportError(JpsiError):
    """The connection failed (refused, reset, timed out) after the retry budget was spent."""


_BY_STATUS: dict[int, type[JpsiHTTPError]] = {
    401: Unauthorized,
    403: Unauthorized,
    404: NotFound,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: ValidationFailed,
    429: RateLimited,
    503: Unavailable,
}


def error_for(status: int) -> type[JpsiHTTPError]:
    """The error class for an HTTP status."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else BadRequest
