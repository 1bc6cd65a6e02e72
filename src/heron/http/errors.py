"""Braze's fatal errors as exceptions, and the handlers that turn them into Braze's JSON bodies.

Every non-2xx body has Braze's shape `{"message": ..., "errors": [...]}` (`errors` only when
there are details). No request may answer 500: unexpected exceptions are logged and answered
with a 500-class body only as a last resort, and tests assert it never happens.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

log = logging.getLogger("heron.http")

_encoder = msgspec.json.Encoder()


class JSONResponse(Response):
    """A JSON response encoded with msgspec (fast, and strict about what is encodable)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Encode the content as compact JSON."""
        return _encoder.encode(content)


class BrazeError(Exception):
    """A fatal API error: HTTP status, Braze's message and optional detail strings."""

    def __init__(self, status: int, message: str, errors: list[Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or []

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        """The Braze-shaped JSON response for this error."""
        body: dict[str, Any] = {"message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return JSONResponse(body, status_code=self.status, headers=headers)


def bad_request(message: str, errors: list[Any] | None = None) -> BrazeError:
    """400 with a message that says what is wrong."""
    return BrazeError(400, message, errors)


UNAUTHORIZED_MESSAGE = "Invalid API key"
FORBIDDEN_MESSAGE = "Access Denied"
NOT_FOUND_MESSAGE = "Invalid URL"
TOO_LARGE_MESSAGE = "Request Entity Too Large"
RATE_LIMITED_MESSAGE = "Rate Limited"
UNAVAILABLE_MESSAGE = "Service Unavailable"


async def braze_error_handler(_request: Request, exc: Exception) -> Response:
    """Render a BrazeError."""
    assert isinstance(exc, BrazeError)
    return exc.response()


_HTTP_MESSAGES = {
    404: NOT_FOUND_MESSAGE,
    405: "Method Not Allowed",
    413: TOO_LARGE_MESSAGE,
}


async def http_exception_handler(_request: Request, exc: Exception) -> Response:
    """Render Starlette's routing errors (404, 405) in Braze's shape."""
    assert isinstance(exc, HTTPException)
    message = _HTTP_MESSAGES.get(exc.status_code, str(exc.detail))
    return JSONResponse({"message": message}, status_code=exc.status_code, headers=exc.headers)


async def storage_busy_handler(_request: Request, exc: Exception) -> Response:
    """A read that kept meeting concurrent reorganisation (heron.store.busy): 503, retry."""
    log.warning("answering 503: %s", exc)
    return JSONResponse(
        {"message": UNAVAILABLE_MESSAGE}, status_code=503, headers={"Retry-After": "1"}
    )


async def unexpected_error_handler(_request: Request, exc: Exception) -> Response:
    """Last resort: log the bug and answer 500 in Braze's shape (tests assert this never runs)."""
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse({"message": "Internal Server Error"}, status_code=500)
