"""The registry the OpenAPI document is built from: operations, shared schemas, Braze's errors."""

from __future__ import annotations

import copy
from typing import Any

from heron import __version__
from heron.permissions import ALL_PERMISSIONS
from heron.ratelimit.openapi import document_rate_limit

__all__ = [
    "ERROR_SCHEMA",
    "SECURITY_SCHEME",
    "add_schema",
    "braze_errors",
    "document",
    "json_response",
    "register",
]

JSONObject = dict[str, Any]

OPENAPI_VERSION = "3.0.3"
SECURITY_SCHEME = "bearerAuth"
PERMISSION_KEY = "x-heron-permission"
METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})

_operations: dict[str, dict[str, JSONObject]] = {}
_schemas: dict[str, JSONObject] = {}

# Braze's fatal answers (spec §2), with the message heron sends for each status.
_ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Bad Request: the body is malformed or breaks a request-level rule (fatal, nothing is"
    " stored). `message` says what is wrong; `errors` may add details.",
    401: "Unauthorized: missing, unknown or revoked API key, or a caller outside the key's IP"
    ' allowlist (`{"message": "Invalid API key"}`).',
    403: "Forbidden: the API key lacks this endpoint's permission"
    ' (`{"message": "Access Denied"}`).',
    404: 'Not Found (`{"message": "Invalid URL"}`).',
    409: "Conflict: the request repeats an `Idempotency-Key` with a different body (heron"
    " extension; nothing is stored).",
    413: 'Payload Too Large: the body exceeds 4 MB (`{"message": "Request Entity Too Large"}`).',
    429: 'Too Many Requests: the workspace is over its rate limit (`{"message": "Rate Limited"}`).',
    503: "Service Unavailable: storage cannot accept writes right now; retry with exponential"
    ' backoff (`{"message": "Service Unavailable"}`).',
}


def add_schema(name: str, schema: JSONObject) -> JSONObject:
    """Add a named schema to `components.schemas`; return a `$ref` to it."""
    known = _schemas.get(name)
    if known is not None and known != schema:
        raise ValueError(f"OpenAPI schema {name!r} is already defined differently")
    _schemas[name] = copy.deepcopy(schema)
    return {"$ref": f"#/components/schemas/{name}"}


ERROR_SCHEMA = add_schema(
    "BrazeError",
    {
        "type": "object",
        "description": "Braze's fatal-error body: `errors` is present only when there are details.",
        "required": ["message"],
        "properties": {
            "message": {"type": "string", "description": "The fatal error message."},
            "errors": {"type": "array", "items": {}, "description": "Details, when any."},
        },
        "additionalProperties": False,
    },
)


def json_response(description: str, schema: JSONObject) -> JSONObject:
    """A response object with an `application/json` body."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def braze_errors(*statuses: int) -> dict[str, JSONObject]:
    """Response objects for Braze's fatal errors, keyed by status code."""
    return {str(s): json_response(_ERROR_DESCRIPTIONS[s], ERROR_SCHEMA) for s in statuses}


def register(path: str, method: str, operation: JSONObject, *, permission: str | None) -> None:
    """Document `method` on `path`; `permission` is the API-key permission, or None for public."""
    method = method.lower()
    if method not in METHODS:
        raise ValueError(f"not an HTTP method OpenAPI knows: {method!r}")
    if not path.startswith("/"):
        raise ValueError(f"paths start with '/': {path!r}")
    entry = copy.deepcopy(operation)
    if "responses" not in entry:
        raise ValueError(f"{method.upper()} {path}: an operation needs 'responses'")
    if permission is None:
        entry["security"] = []
    else:
        if permission not in ALL_PERMISSIONS:
            raise ValueError(f"{method.upper()} {path}: unknown permission {permission!r}")
        entry["security"] = [{SECURITY_SCHEME: []}]
        entry[PERMISSION_KEY] = permission
        note = f"Requires an API key with the `{permission}` permission."
        entry["description"] = f"{entry.get('description', '').rstrip()}\n\n{note}".lstrip()
        # Every authenticated operation is rate limited: 429 is always possible, and each
        # response but 401/403 carries the X-RateLimit-* headers (heron.ratelimit.openapi).
        for status, response in braze_errors(401, 403, 429).items():
            entry["responses"].setdefault(status, response)
        document_rate_limit(entry, permission)
    known = _operations.get(path, {}).get(method)
    if known is not None and known != entry:
        raise ValueError(f"{method.upper()} {path} is already documented differently")
    _operations.setdefault(path, {})[method] = entry


def document() -> JSONObject:
    """Build the OpenAPI 3.0 document from everything registered so far."""
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "heron (Braze-compatible REST API)",
            "version": __version__,
            "description": "Self-hosted server answering Braze's REST API with Braze's request"
            ' and response shapes. Every error body is `{"message": ..., "errors": [...]}`.',
        },
        "paths": copy.deepcopy({path: _operations[path] for path in sorted(_operations)}),
        "components": {
            "schemas": copy.deepcopy(dict(sorted(_schemas.items()))),
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A REST API key: `Authorization: Bearer <key>`. Each operation"
                    f" names the permission the key needs in `{PERMISSION_KEY}`.",
                }
            },
        },
    }
