"""heron's OpenAPI 3.0 document (`GET /openapi.json`): Braze's request and response shapes.

Design: a registry. Each module that serves endpoints documents them, at import time, with
`register(path, method, operation, permission=...)`; `document()` assembles whatever has been
registered. `permission` (a name from `heron.permissions`, or None for a public endpoint) adds
the bearer security requirement, the `x-heron-permission` extension, a line in the description,
Braze's 401/403/429 responses and the rate limit (`x-heron-rate-limit-bucket`, a note, and the
`X-RateLimit-*` headers on every response but 401/403: `heron.ratelimit.openapi`).
`add_schema(name, schema)` puts a shared schema under `components.schemas` and returns its
`$ref`; `braze_errors(400, 413, ...)` gives Braze's fatal error responses and
`json_response(description, schema)` any JSON response. Example, in a routes module:

    from heron import openapi

    openapi.register("/events/list", "get", {
        "summary": "List custom event names",
        "parameters": [{"name": "page", "in": "query", "schema": {"type": "integer"}}],
        "responses": {"200": openapi.json_response("Names", {"type": "object"}),
                      **openapi.braze_errors(400, 429)},
    }, permission="events.list")

`tests/test_openapi.py` fails when a route of the app has no document entry (or the reverse),
and fuzzes every documented operation against the running app with schemathesis.
`POST /users/track` is documented in `heron.openapi.track`; `/healthz` and `/openapi.json` in
`heron.openapi.service`.
"""

from __future__ import annotations

from heron.openapi import track
from heron.openapi.registry import (
    ERROR_SCHEMA,
    add_schema,
    braze_errors,
    document,
    json_response,
    register,
)
from heron.openapi.service import openapi_json, openapi_route

__all__ = [
    "ERROR_SCHEMA",
    "add_schema",
    "braze_errors",
    "document",
    "json_response",
    "openapi_json",
    "openapi_route",
    "register",
    "track",
]
