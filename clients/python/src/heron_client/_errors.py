"""The client's exceptions, in one place: Braze's fatal errors by status, and transport failures.

```
HeronClientError
├── APIError                      the server answered with a fatal (non-2xx) status
│   ├── BadRequestError           400 (bad syntax, limits exceeded, invalid parameters)
│   ├── AuthenticationError       401 (invalid API key, wrong instance)
│   ├── PermissionDeniedError     403 (key lacks the permission, plan or account refuses)
│   ├── NotFoundError             404 (invalid URL; heron: unknown named entry)
│   ├── ConflictError             409 (heron's management API: the state forbids the change)
│   ├── PayloadTooLargeError      413 (body over 4 MB)
│   ├── RateLimitedError          429 (over the rate limit; `reset_at` from X-RateLimit-Reset)
│   └── ServerError               5xx (retried with backoff before it is raised)
├── APIConnectionError            no answer: refused, reset, DNS failure
│   └── APITimeoutError           no answer in time
└── MalformedResponseError        an answer that is not the JSON object the endpoint promises
```
"""

from __future__ import annotations

import time
from typing import Any

import httpx

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "HeronClientError",
    "MalformedResponseError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ServerError",
    "error_for_response",
]


class HeronClientError(Exception):
    """Base of every exception this client raises."""


class APIError(HeronClientError):
    """A fatal answer: `status`, Braze's `message` and its `errors` details (may be empty)."""

    def __init__(
        self, status: int, message: str, errors: list[Any], response: httpx.Response | None
    ) -> None:
        super().__init__(f"{status} {message}" + (f": {errors!r}" if errors else ""))
        self.status = status
        self.message = message
        self.errors = errors
        self.response = response


class BadRequestError(APIError):
    """400: the request is malformed or exceeds a limit."""


class AuthenticationError(APIError):
    """401: the API key is invalid (or belongs to another instance)."""


class PermissionDeniedError(APIError):
    """403: the key lacks the endpoint's permission, or the account refuses the call."""


class NotFoundError(APIError):
    """404: the URL (or, in heron's management API, the named entry) does not exist."""


class ConflictError(APIError):
    """409: heron's management API refuses a change the entry's state forbids."""


class PayloadTooLargeError(APIError):
    """413: the body is larger than the server accepts (4 MB on Braze)."""


class RateLimitedError(APIError):
    """429: over the rate limit; `reset_at` is the window's end (epoch seconds) when known."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[Any],
        response: httpx.Response | None,
        reset_at: float | None = None,
    ) -> None:
        super().__init__(status, message, errors, response)
        self.reset_at = reset_at


class ServerError(APIError):
    """5xx: the server failed; raised once the retries are spent."""


class APIConnectionError(HeronClientError):
    """The server could not be reached or dropped the connection."""


class APITimeoutError(APIConnectionError):
    """The server did not answer in time."""


class MalformedResponseError(HeronClientError):
    """The answer is not the JSON object the endpoint returns (a proxy page, a truncated body)."""

    def __init__(self, message: str, response: httpx.Response) -> None:
        super().__init__(f"{message} (HTTP {response.status_code}: {response.text[:200]!r})")
        self.response = response


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
}


def reset_time(response: httpx.Response) -> float | None:
    """`X-RateLimit-Reset` (UTC epoch seconds), else `Retry-After` seconds from now, else None."""
    raw = response.headers.get("x-ratelimit-reset")
    if raw is not None:
        try:
            return float(raw)
        except ValueError:
            pass
    raw = response.headers.get("retry-after")
    if raw is not None:
        try:
            return time.time() + float(raw)
        except ValueError:
            pass
    return None


def error_for_response(response: httpx.Response) -> APIError:
    """The exception for a non-2xx answer, with Braze's `message` and `errors` when present."""
    status = response.status_code
    message = response.reason_phrase or f"HTTP {status}"
    errors: list[Any] = []
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        if isinstance(body.get("message"), str):
            message = body["message"]
        found = body.get("errors")
        if isinstance(found, list):
            errors = found
        elif found is not None:
            errors = [found]
    if status == 429:
        return RateLimitedError(status, message, errors, response, reset_time(response))
    if status >= 500:
        return ServerError(status, message, errors, response)
    return _BY_STATUS.get(status, APIError)(status, message, errors, response)
