"""Rate limits in the OpenAPI document: the bucket note and the `X-RateLimit-*` headers.

`heron.openapi.registry.register` calls `document_rate_limit` for every operation that needs an
API key, so each authenticated response (all but 401/403) lists the headers and each 429 adds
`Retry-After`. The headers are optional: they are absent when `HERON_RATE_LIMITS=off` and when
Redis is unreachable (fail open).
"""

from __future__ import annotations

import copy
from typing import Any

from heron.ratelimit.buckets import BUCKETS, bucket_for

__all__ = ["BUCKET_KEY", "RATE_LIMIT_HEADERS", "RETRY_AFTER_HEADER", "document_rate_limit"]

JSONObject = dict[str, Any]

BUCKET_KEY = "x-heron-rate-limit-bucket"
_UNAUTHENTICATED = frozenset({"401", "403"})

RATE_LIMIT_HEADERS: dict[str, JSONObject] = {
    "X-RateLimit-Limit": {
        "description": "Requests allowed per window in this endpoint's bucket, for the workspace.",
        "schema": {"type": "integer", "minimum": 1},
    },
    "X-RateLimit-Remaining": {
        "description": "Requests left in the current window (this one counted).",
        "schema": {"type": "integer", "minimum": 0},
    },
    "X-RateLimit-Reset": {
        "description": "When the current window ends, in UTC epoch seconds.",
        "schema": {"type": "integer", "minimum": 0},
    },
}
RETRY_AFTER_HEADER: JSONObject = {
    "description": "Seconds until the window ends and requests are accepted again.",
    "schema": {"type": "integer", "minimum": 1},
}


def _period(seconds: int) -> str:
    """A period in words: `3 seconds`, `minute`, `hour`."""
    named = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}
    return named.get(seconds, f"{seconds:,} seconds")


def document_rate_limit(operation: JSONObject, permission: str) -> None:
    """Add the bucket, its default numbers and the rate-limit headers to an operation."""
    bucket = BUCKETS[bucket_for(permission)]
    operation[BUCKET_KEY] = bucket.name
    note = (
        f"Rate limit: bucket `{bucket.name}` ({bucket.description}), {bucket.limit:,} requests"
        f" per {_period(bucket.period_seconds)} per workspace unless the operator changed it."
    )
    operation["description"] = f"{operation.get('description', '').rstrip()}\n\n{note}".lstrip()
    for status, response in operation["responses"].items():
        if status in _UNAUTHENTICATED or "$ref" in response:
            continue
        headers = response.setdefault("headers", {})
        for name, header in RATE_LIMIT_HEADERS.items():
            headers.setdefault(name, copy.deepcopy(header))
        if status == "429":
            headers.setdefault("Retry-After", copy.deepcopy(RETRY_AFTER_HEADER))
