"""What the sync and async clients share: settings, request building and answer decoding."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from http.cookiejar import CookieJar
from typing import Any

import httpx

from heron_client._calls import Call
from heron_client._errors import (
    APIConnectionError,
    APITimeoutError,
    HeronClientError,
    MalformedResponseError,
    error_for_response,
)
from heron_client._retry import RetryPolicy

__all__ = ["DEFAULT_TIMEOUT", "ClientSettings", "decode", "next_link", "transport_error"]

When = datetime | date | str | None
Objects = Iterable[Mapping[str, Any]] | None

DEFAULT_TIMEOUT = 60.0
USER_AGENT = "heron-client/0.1"

# Page sizes of the page-numbered lists (a shorter page is the last one); None: page to empty.
EVENTS_LIST_PAGE = 250
CAMPAIGNS_PAGE = 100
SEGMENTS_PAGE = 100
CAMPAIGN_DEFINITIONS_PAGE = 100

# The key of the single entry in a catalog management answer, by catalog.
SINGULAR = {"events": "event", "custom_attributes": "custom_attribute", "products": "product"}


class ClientSettings:
    """Base URL, key, timeout and retry policy, validated once."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        timeout: float | httpx.Timeout,
        retry: RetryPolicy | None,
    ) -> None:
        if not api_key:
            raise ValueError("api_key is required (a REST API key)")
        if not base_url:
            raise ValueError("base_url is required (heron's URL or a Braze REST endpoint)")
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()

    def http_options(self, max_connections: int) -> dict[str, Any]:
        """`httpx.Client` / `httpx.AsyncClient` arguments (all but the transport)."""
        return {
            "base_url": self.base_url,
            "headers": self.headers(),
            "timeout": self.timeout,
            "limits": httpx.Limits(max_connections=max_connections),
            "cookies": NoCookies(),
        }

    def headers(self) -> dict[str, str]:
        """Headers every request carries."""
        return {
            "Authorization": f"Bearer {self.api_key}",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }


class NoCookies(CookieJar):
    """A cookie jar that keeps nothing: the REST API is stateless, and parsing every answer's
    cookies cost a noticeable share of the client's CPU per request."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        """Ignore the answer's cookies."""


def new_idempotency_key() -> str:
    """A fresh key for one logical `/users/track` call, reused by its retries."""
    return f"heron-client-{uuid.uuid4().hex}"


def request_kwargs(call: Call) -> dict[str, Any]:
    """httpx `request()` arguments for a call."""
    kwargs: dict[str, Any] = {"params": call.params or None, "headers": call.headers or None}
    if call.content is not None:
        kwargs["content"] = call.content
    elif call.body is not None:
        kwargs["json"] = call.body
    return kwargs


def transport_error(exc: httpx.TransportError) -> HeronClientError:
    """The client exception for an httpx transport failure."""
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"no answer in time: {exc!r}")
    return APIConnectionError(f"connection failed: {exc!r}")


def check(response: httpx.Response) -> HeronClientError | None:
    """The error a response stands for (None for 2xx)."""
    if response.is_success:
        return None
    return error_for_response(response)


def decode(response: httpx.Response) -> dict[str, Any]:
    """A 2xx answer's JSON object, or MalformedResponseError."""
    try:
        found = response.json()
    except ValueError:
        raise MalformedResponseError("the answer is not JSON", response) from None
    if not isinstance(found, dict):
        raise MalformedResponseError("the answer is not a JSON object", response)
    return found


def items(response: httpx.Response, key: str) -> list[Any]:
    """The list under `key` of an answer, or MalformedResponseError.

    `attributes` also accepts `custom_attributes`: Braze's `/custom_attributes` answers under
    `attributes`, heron's under `custom_attributes`.
    """
    answer = decode(response)
    found = answer.get(key)
    if found is None and key == "attributes":
        found = answer.get("custom_attributes")
    if not isinstance(found, list):
        raise MalformedResponseError(f"the answer has no '{key}' list", response)
    return found


def one(response: httpx.Response, key: str) -> Any:
    """The object under `key` of an answer (`segment`, `campaign`), or MalformedResponseError."""
    found = decode(response).get(key)
    if not isinstance(found, dict):
        raise MalformedResponseError(f"the answer has no '{key}' object", response)
    return found


def next_link(response: httpx.Response) -> str | None:
    """The absolute URL of the `Link` header's `rel="next"`, if any."""
    if "link" not in response.headers:
        return None
    target = response.links.get("next", {}).get("url")
    if not target:
        return None
    absolute = str(response.request.url.join(target))
    return None if absolute == str(response.request.url) else absolute


def link_call(url: str) -> Call:
    """A GET of a URL taken from a `Link` header."""
    return Call("GET", url)


def last_page(found: list[Any], page_size: int | None) -> bool:
    """Whether a page-numbered list ends with this page."""
    return not found or (page_size is not None and len(found) < page_size)
